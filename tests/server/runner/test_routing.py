"""Keyword matching, as RapidPro does it: first word, case-insensitive, group filters, specificity."""

from __future__ import annotations

import pytest

from flows.model import FlowRef, GroupRef, Trigger
from server.runner.routing import catch_all_trigger, keyword_trigger, says_only, starts_with, words_of

FLOW = FlowRef("f1", "Registro")
OTHER = FlowRef("f2", "Otro")
MADRES = GroupRef("g-madres", "Madres")
BAJA = GroupRef("g-baja", "Baja")


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("Hola, quiero info", ["hola", "quiero", "info"]),
        ("  ¡ALTA!  ", ["alta"]),
        ("SÍ", ["sí"]),  # lower-cased, accents kept (RapidPro)
        ("", []),
        ("🙂 hola", ["🙂", "hola"]),
    ],
)
def test_words(text: str, words: list[str]) -> None:
    assert words_of(text) == words


def test_first_word_and_only_word() -> None:
    first = Trigger("keyword", FLOW, keywords=("hola",))
    only = Trigger("keyword", OTHER, keywords=("alerta",), match="only_word")
    triggers = [first, only]
    assert keyword_trigger(triggers, words_of("HOLA amiga"), set()) is first
    assert keyword_trigger(triggers, words_of("amiga hola"), set()) is None
    assert keyword_trigger(triggers, words_of("alerta!"), set()) is only
    assert keyword_trigger(triggers, words_of("alerta roja"), set()) is None
    assert keyword_trigger(triggers, words_of(""), set()) is None


def test_keywords_match_without_regard_to_their_case_in_the_programme() -> None:
    trigger = Trigger("keyword", FLOW, keywords=("Registro",))
    assert keyword_trigger([trigger], words_of("registro"), set()) is trigger


def test_group_filters_and_specificity() -> None:
    everyone = Trigger("keyword", FLOW, keywords=("hola",))
    not_stopped = Trigger("keyword", FLOW, keywords=("hola",), exclude_groups=(BAJA,))
    mothers = Trigger("keyword", OTHER, keywords=("hola",), groups=(MADRES,))
    triggers = [everyone, not_stopped, mothers]
    assert keyword_trigger(triggers, ["hola"], {MADRES.uuid}) is mothers
    assert keyword_trigger(triggers, ["hola"], set()) is not_stopped
    assert keyword_trigger(triggers, ["hola"], {BAJA.uuid}) is everyone
    assert keyword_trigger([mothers], ["hola"], set()) is None


def test_catch_all_respects_groups() -> None:
    help_ = Trigger("catch_all", FLOW, exclude_groups=(BAJA,))
    assert catch_all_trigger([help_], set()) is help_
    assert catch_all_trigger([help_], {BAJA.uuid}) is None
    assert catch_all_trigger([], set()) is None


def test_opt_words() -> None:
    words = frozenset({"baja", "stop"})
    assert says_only(words_of("BAJA"), words)
    assert says_only(words_of("stop."), words)
    assert not says_only(words_of("baja por favor"), words)
    assert starts_with(words_of("Alta por favor"), frozenset({"alta"}))
    assert not starts_with([], frozenset({"alta"}))
