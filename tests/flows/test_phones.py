"""Phone numbers: every usual way of writing a Mexican number gives one E.164 number; junk gives a reason."""

from __future__ import annotations

import phonenumbers
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from flows.phones import MAX_INPUT_LENGTH, InvalidPhoneNumber, normalise_phone

ANA = "+525512345678"


@pytest.mark.parametrize(
    "written",
    [
        "+525512345678",
        "+52 55 1234 5678",
        "+52 (55) 1234-5678",
        "+52.55.1234.5678",
        "5512345678",
        "55 1234 5678",
        "55-1234-5678",
        "0052 55 1234 5678",
        "tel:+525512345678",
        "  +52 55 1234 5678\t",
        # The mobile prefixes Mexico retired in 2019, still found in registers and handsets.
        "+5215512345678",
        "+52 1 55 1234 5678",
        "044 55 1234 5678",
        "045 55 1234 5678",
        "01 55 1234 5678",
        "1 55 1234 5678",
    ],
)
def test_mexican_forms_become_one_e164_number(written: str) -> None:
    assert normalise_phone(written) == ANA


def test_other_countries_keep_their_code() -> None:
    assert normalise_phone("+1 202 555 0100") == "+12025550100"
    assert normalise_phone("+44 7911 123456") == "+447911123456"
    assert normalise_phone("07911 123456", region="GB") == "+447911123456"


def test_a_mexican_number_from_another_region_needs_its_country_code() -> None:
    assert normalise_phone("+52 999 123 4567", region="GB") == "+529991234567"


@pytest.mark.parametrize(
    ("written", "reason"),
    [
        ("", "is empty"),
        ("   ", "is empty"),
        ("abc", "is not a phone number"),
        ("+", "is not a phone number"),
        ("12345", "is too short for a number in +52 (MX)"),
        ("+52 55 1234 567", "is too short for a number in +52 (MX)"),
        ("+52 55 1234 567890", "is too long for a number in +52 (MX)"),
        ("+52 1234567890", "is not a number in use in +52 (MX)"),
        ("+15555550100", "is not a number in use in +1 (US)"),
        ("+999 123456789", "has no country code this server knows; write it as +<country code> <number>"),
        ("55 1234 5678 ext 3", "has an extension; SMS cannot reach an extension"),
        ("55 CALL NOW", "is not a phone number"),
        ("5512345678a", "contains letters"),
        ("9" * (MAX_INPUT_LENGTH + 1), f"is longer than {MAX_INPUT_LENGTH} characters"),
    ],
)
def test_refusals_say_why(written: str, reason: str) -> None:
    with pytest.raises(InvalidPhoneNumber) as caught:
        normalise_phone(written)
    assert caught.value.reason == reason


def test_the_reason_never_repeats_the_number() -> None:
    with pytest.raises(InvalidPhoneNumber) as caught:
        normalise_phone("+52 55 1234 567")
    assert "551234567" not in str(caught.value)


@settings(max_examples=200)
@given(st.text(max_size=40))
def test_any_text_is_a_number_or_a_reason(raw: str) -> None:
    try:
        number = normalise_phone(raw)
    except InvalidPhoneNumber as exc:
        reason = exc.reason
        number = ""
    if not number:
        assert reason
        return
    assert phonenumbers.is_valid_number(phonenumbers.parse(number))
    assert normalise_phone(number) == number  # E.164 in, the same E.164 out


@settings(max_examples=200)
@given(st.from_regex(r"[2-9][0-9]{9}", fullmatch=True))
def test_the_quick_path_agrees_with_phonenumbers(digits: str) -> None:
    """Ten-digit Mexican numbers skip the general parser; the answer must be the one it would give."""
    valid = phonenumbers.is_valid_number(phonenumbers.parse(f"+52{digits}"))
    try:
        assert normalise_phone(digits) == f"+52{digits}"
        assert valid
    except InvalidPhoneNumber:
        assert not valid
