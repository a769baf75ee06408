"""What a native flow file means when it leaves something out: the flow's language and expiry, a router's
operand, the word that ends a flow, and the names categories get when the author gives none (docs/flows.md,
the table of tests). The loader fills these in and the dumper leaves them out, so both read them from here."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

from flows.model import Flow

DEFAULT_LANGUAGE: Final = "spa"
DEFAULT_EXPIRE_MINUTES: Final = 7 * 24 * 60
DEFAULT_OPERAND: Final = "@input.text"
SPEC_VERSION: Final[str] = Flow(uuid="", name="", language="", nodes=()).spec_version
END: Final = "end"

# Default category names, as RapidPro's editor gives them. Text tests are named after their first word.
OTHER: Final = "Other"
NO_RESPONSE: Final = "No Response"
ALL_RESPONSES: Final = "All Responses"
_WORD_TESTS: Final = frozenset(
    {"has_any_word", "has_all_words", "has_phrase", "has_only_phrase", "has_beginning", "has_only_text"}
)
_NAMED_TESTS: Final = {
    "has_text": "Has Text",
    "has_value": "Has Text",
    "has_number": "Has Number",
    "has_date": "Has Date",
    "has_time": "Has Time",
    "has_phone": "Has Phone",
    "has_email": "Has Email",
    "has_error": "Has Error",
    "has_pattern": "Matches",
}
_COMPARISONS: Final = {
    "has_number_lt": "< {}",
    "has_number_lte": "≤ {}",
    "has_number_eq": "= {}",
    "has_number_gte": "≥ {}",
    "has_number_gt": "> {}",
    "has_date_lt": "Before {}",
    "has_date_eq": "{}",
    "has_date_gt": "After {}",
}


def default_category_name(test: str, arguments: Sequence[str]) -> str:
    """The name a route's category gets when the author gives none (docs/flows.md, the table of tests)."""
    if test in _NAMED_TESTS:
        return _NAMED_TESTS[test]
    if not arguments:
        return "Match"
    first = arguments[0]
    if test in _WORD_TESTS or test == "has_category":
        words = first.split()
        return _capitalise(words[0]) if words else "Match"
    if test == "has_number_between" and len(arguments) == 2:
        return f"{arguments[0]} - {arguments[1]}"
    if test in _COMPARISONS:
        return _COMPARISONS[test].format(first)
    if test == "has_group":
        return arguments[1] if len(arguments) > 1 else "In Group"
    return "Match"


def _capitalise(word: str) -> str:
    return word[:1].upper() + word[1:]
