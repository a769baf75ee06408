"""Phone numbers in E.164, the one form recado stores, compares and sends to.

Mexico dropped its mobile dialling prefixes in 2019 (``044``/``045`` within the country, ``01`` for long
distance, and the ``1`` after ``+52`` from abroad), but registers, spreadsheets and handsets still carry them.
They are read as the ten-digit number they stand for today, so one woman is one contact whichever form her
number was written in.
"""

from __future__ import annotations

import functools
import re

import phonenumbers
from phonenumbers import NumberParseException, PhoneNumber, ValidationResult

# Longer than any real number written with spaces, brackets and a "tel:" prefix; phonenumbers has its own
# bound (250), this one keeps error messages and the work done on junk small.
MAX_INPUT_LENGTH = 64
MEXICO = 52
MEXICO_DIGITS = 10
# Oldest-longest first, so "044" is tried before "01" and "1".
_MEXICO_LEGACY_PREFIXES = ("044", "045", "01", "1")
_SEPARATORS = str.maketrans("", "", " -.()")
_MEXICO_E164 = re.compile(r"\+52([2-9]\d{9})")
_TEN_DIGITS = re.compile(r"[2-9]\d{9}")
_LETTERS = re.compile(r"[A-Za-z]")

_PARSE_REASONS = {
    NumberParseException.INVALID_COUNTRY_CODE: "has no country code this server knows; write it as +<country code> <number>",
    NumberParseException.NOT_A_NUMBER: "is not a phone number",
    NumberParseException.TOO_SHORT_AFTER_IDD: "is too short after the international prefix",
    NumberParseException.TOO_SHORT_NSN: "is too short to be a phone number",
    NumberParseException.TOO_LONG: "is too long to be a phone number",
}


class InvalidPhoneNumber(ValueError):
    """The text is not a phone number recado can send to; ``reason`` says why, without repeating the number."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def normalise_phone(raw: str, region: str = "MX") -> str:
    """Return ``raw`` as E.164 (``+525512345678``). Numbers without a country code are read in ``region``."""
    text = raw.strip()
    if not text:
        raise InvalidPhoneNumber("is empty")
    if len(text) > MAX_INPUT_LENGTH:
        raise InvalidPhoneNumber(f"is longer than {MAX_INPUT_LENGTH} characters")
    fast = _fast_mexican(text, region)
    if fast is not None:
        return fast
    try:
        number = phonenumbers.parse(text, region)
    except NumberParseException as exc:
        raise InvalidPhoneNumber(_PARSE_REASONS.get(exc.error_type, "is not a phone number")) from None
    if number.extension:
        raise InvalidPhoneNumber("has an extension; SMS cannot reach an extension")
    without_scheme = text[4:] if text[:4].lower() == "tel:" else text
    if _LETTERS.search(without_scheme):
        raise InvalidPhoneNumber("contains letters")
    if number.country_code == MEXICO and not phonenumbers.is_valid_number(number):
        number = _without_mexican_legacy_prefix(number)
    if not phonenumbers.is_valid_number(number):
        raise InvalidPhoneNumber(_why_invalid(number))
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def _fast_mexican(text: str, region: str) -> str | None:
    """The forms almost every list uses, checked against the same numbering plan without the general parser
    (which costs four times as much)."""
    compact = text.translate(_SEPARATORS)
    match = _MEXICO_E164.fullmatch(compact)
    digits = (
        match.group(1) if match else (compact if region == "MX" and _TEN_DIGITS.fullmatch(compact) else None)
    )
    if digits is None:
        return None
    general, lines = _mexican_plan()
    if not (general.fullmatch(digits) and any(p.fullmatch(digits) for p in lines)):
        return None  # the general path decides, and explains why when it refuses
    return f"+52{digits}"


@functools.cache
def _mexican_plan() -> tuple[re.Pattern[str], tuple[re.Pattern[str], ...]]:
    """Mexico's numbering plan from phonenumbers' own metadata: a number it matches is a fixed or mobile line,
    which is exactly what ``is_valid_number`` would conclude, at a tenth of the cost."""
    metadata = phonenumbers.PhoneMetadata.metadata_for_region("MX")
    if metadata is None or metadata.general_desc is None:
        raise RuntimeError("phonenumbers has no metadata for Mexico")
    general = re.compile(metadata.general_desc.national_number_pattern or r"(?!)")
    lines = tuple(
        re.compile(desc.national_number_pattern)
        for desc in (metadata.fixed_line, metadata.mobile)
        if desc is not None and desc.national_number_pattern
    )
    return general, lines


def _without_mexican_legacy_prefix(number: PhoneNumber) -> PhoneNumber:
    national = phonenumbers.national_significant_number(number)
    for prefix in _MEXICO_LEGACY_PREFIXES:
        rest = national[len(prefix) :]
        if national.startswith(prefix) and len(rest) == MEXICO_DIGITS:
            candidate = PhoneNumber(country_code=MEXICO, national_number=int(rest))
            if phonenumbers.is_valid_number(candidate):
                return candidate
    return number


def _why_invalid(number: PhoneNumber) -> str:
    country = number.country_code or 0
    region = phonenumbers.region_code_for_country_code(country)
    where = f"+{country} ({region})" if region != phonenumbers.UNKNOWN_REGION else f"+{country}"
    possible = phonenumbers.is_possible_number_with_reason(number)
    if possible == ValidationResult.INVALID_COUNTRY_CODE:
        return f"has an unknown country code +{country}"
    if possible == ValidationResult.TOO_SHORT:
        return f"is too short for a number in {where}"
    if possible == ValidationResult.TOO_LONG:
        return f"is too long for a number in {where}"
    if possible == ValidationResult.INVALID_LENGTH:
        return f"has the wrong number of digits for a number in {where}"
    return f"is not a number in use in {where}"
