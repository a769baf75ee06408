"""Which keyword an inbound message says, and which trigger it sets off: RapidPro's rules, without I/O.

A message's keyword is its first word (RapidPro's tokenizer, lower-cased without folding accents). A
``first_word`` trigger matches when its keyword is that word; an ``only_word`` trigger also needs the message
to be that one word. Among the triggers a contact may set off (in one of its groups if it names any, in none of
its excluded groups), one that names groups beats one that excludes groups, which beats one that does neither;
between equals the programme's order decides.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence

from flows.model import Trigger
from flows.values.text import lower, tokenize


def words_of(text: str) -> list[str]:
    return [lower(word) for word in tokenize(text)]


def says_only(words: Sequence[str], keywords: Collection[str]) -> bool:
    """The whole message is one of ``keywords`` (punctuation and case aside): how opt-outs are recognised,
    so "alto" in a sentence ("tengo la presión alta", "alto riesgo") never stops anyone's messages."""
    return len(words) == 1 and words[0] in keywords


def starts_with(words: Sequence[str], keywords: Collection[str]) -> bool:
    return bool(words) and words[0] in keywords


def keyword_language(
    words: Sequence[str], keywords: Mapping[str, Collection[str]], *, whole: bool, prefer: str
) -> str | None:
    """The language whose keyword the message is (``whole``: the whole message is the keyword, else its first
    word), ``prefer`` when several languages have the word; None when it is no language's keyword."""
    matches = says_only if whole else starts_with
    languages = [
        language for language, words_of_language in keywords.items() if matches(words, words_of_language)
    ]
    if not languages:
        return None
    return prefer if prefer in languages else languages[0]


def _applies(trigger: Trigger, group_uuids: Collection[str]) -> bool:
    if trigger.groups and not any(g.uuid in group_uuids for g in trigger.groups):
        return False
    return not any(g.uuid in group_uuids for g in trigger.exclude_groups)


def _score(trigger: Trigger) -> int:
    return (2 if trigger.groups else 0) + (1 if trigger.exclude_groups else 0)


def _best(candidates: Iterable[Trigger]) -> Trigger | None:
    best: Trigger | None = None
    for trigger in candidates:
        if best is None or _score(trigger) > _score(best):
            best = trigger
    return best


def keyword_trigger(
    triggers: Sequence[Trigger], words: Sequence[str], group_uuids: Collection[str]
) -> Trigger | None:
    if not words:
        return None
    keyword = words[0]

    def matches(trigger: Trigger) -> bool:
        if keyword not in (lower(k) for k in trigger.keywords):
            return False
        return trigger.match == "first_word" or len(words) == 1

    return _best(t for t in triggers if matches(t) and _applies(t, group_uuids))


def catch_all_trigger(triggers: Sequence[Trigger], group_uuids: Collection[str]) -> Trigger | None:
    return _best(t for t in triggers if _applies(t, group_uuids))
