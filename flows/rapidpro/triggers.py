"""RapidPro triggers → the model (reference §9): keyword and catch-all triggers start flows from an incoming
SMS; the other types (schedules, calls, referrals, tickets, opt-ins) have no meaning for recado or are not
exported with what they need, and are reported."""

from __future__ import annotations

import re
import unicodedata

from flows import model
from flows.rapidpro.reader import Obj
from flows.rapidpro.state import ImportState, group_reference

MATCH_TYPES: dict[str, model.TriggerMatch] = {"F": "first_word", "O": "only_word"}
MAX_KEYWORD = 16

OTHER_TRIGGER_TYPES = {
    "S": "a scheduled start (RapidPro does not export the schedule)",
    "V": "an inbound voice call",
    "M": "a missed call",
    "N": "a new conversation (Facebook, WhatsApp)",
    "R": "a referral (Facebook)",
    "T": "a closed ticket",
    "I": "an opt-in (Facebook, WhatsApp)",
    "O": "an opt-out (Facebook, WhatsApp)",
}

_WORD = re.compile(r"^\w+$")
_EMOJI_JOINERS = frozenset("\u200d\ufe0f")


def valid_keyword(keyword: str) -> bool:
    """RapidPro's rule: one word of letters, digits and ``_``, or a single emoji, at most 16 characters."""
    if not keyword or len(keyword) > MAX_KEYWORD:
        return False
    if _WORD.match(keyword):
        return True
    return all(unicodedata.category(char) == "So" or char in _EMOJI_JOINERS for char in keyword)


def convert_trigger(trigger: Obj, number: int, state: ImportState) -> model.Trigger | None:
    kind = trigger.text("trigger_type")
    label = f"trigger {number + 1} ({kind})"

    def drop(why: str) -> None:
        state.report("unsupported", label, f"{why}; the trigger is not imported")

    if kind not in {"K", "C"}:
        drop(f"it starts a flow on {OTHER_TRIGGER_TYPES.get(kind, f'the unknown trigger type {kind!r}')}")
        return None
    ref = trigger.obj("flow")
    flow = state.flows.resolve(ref.opt_text("uuid"), ref.opt_text("name"))
    if flow is None:
        drop(f'its flow "{ref.opt_text("name")}" is not in this export')
        return None
    groups = _groups(trigger, "groups", state)
    excluded = _groups(trigger, "exclude_groups", state)
    if trigger.data.get("channel"):
        state.report("changed", label, "it was limited to one channel; in recado it answers on every channel")
    if kind == "C":
        return model.Trigger(kind="catch_all", flow=flow, groups=groups, exclude_groups=excluded)
    keywords = _keywords(trigger, label, state)
    if not keywords:
        drop("it has no valid keyword")
        return None
    match_code = trigger.opt_text("match_type", "F") or "F"
    match = MATCH_TYPES.get(match_code)
    if match is None:
        drop(f"unknown match type {match_code!r} (RapidPro match types are F and O)")
        return None
    return model.Trigger(
        kind="keyword", flow=flow, keywords=keywords, match=match, groups=groups, exclude_groups=excluded
    )


def _keywords(trigger: Obj, label: str, state: ImportState) -> tuple[str, ...]:
    # Older exports have one "keyword"; newer ones a "keywords" list.
    raw = trigger.texts("keywords") if trigger.has("keywords") else (trigger.opt_text("keyword"),)
    keywords: list[str] = []
    for keyword in raw:
        folded = keyword.strip().lower()
        if not valid_keyword(folded):
            state.report(
                "changed", label, f"keyword {keyword!r} dropped: a keyword is one word of up to 16 characters"
            )
        elif folded not in keywords:
            keywords.append(folded)
    return tuple(keywords)


def _groups(trigger: Obj, key: str, state: ImportState) -> tuple[model.GroupRef, ...]:
    return tuple(group_reference(group, state.groups) for group in trigger.objs(key))
