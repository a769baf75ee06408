"""SMS text facts: GSM-7 or UCS-2, how many parts, where they split, and transliteration for Spanish."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from flows import sms

EXTENSION = "€[]{}~^\\|"
SPANISH_GSM7 = "ñÑéÉüÜ¿¡"


@pytest.mark.parametrize(
    ("text", "encoding"),
    [
        ("", "gsm7"),
        ("Hola, ¿cómo estás?", "ucs2"),  # ó and á are not GSM-7
        ("Hola, ¿como estas?", "gsm7"),
        (SPANISH_GSM7, "gsm7"),
        ("àèìòù ÄÖÜ äöü Ç ß Æ æ Ø ø Å å", "gsm7"),
        ("ΔΦΓΛΩΠΨΣΘΞ @£$¥¤§_", "gsm7"),
        ("line one\nline two\r\n", "gsm7"),
        (EXTENSION, "gsm7"),
        ("ç", "ucs2"),  # only the capital is in the basic table
        ("À", "ucs2"),  # capitals with a grave accent are not GSM-7
        ("\t", "ucs2"),
        ("\x1b", "ucs2"),  # the escape code is not a character of its own
        ("😀", "ucs2"),
        ("Привет", "ucs2"),
        ("¡Felicidades! 🎉", "ucs2"),
    ],
)
def test_encoding(text: str, encoding: str) -> None:
    assert sms.encoding_of(text) == encoding
    assert sms.is_gsm7(text) == (encoding == "gsm7")
    assert sms.size(text).encoding == encoding


def test_tables_have_their_sizes() -> None:
    assert len(sms.GSM7_BASIC) == 127  # 128 codes, one of which is the escape
    assert len(sms.GSM7_EXTENSION) == 10
    assert not sms.GSM7_BASIC & sms.GSM7_EXTENSION


@pytest.mark.parametrize("char", list(EXTENSION))
def test_each_extension_character_costs_two_septets(char: str) -> None:
    assert sms.septets(char) == 2
    assert sms.size(char * 80) == sms.Size("gsm7", 160, 1)
    assert sms.size(char * 80 + "a") == sms.Size("gsm7", 161, 2)


@pytest.mark.parametrize(
    ("char", "cost"), [("a", 1), ("ñ", 1), ("€", 2), ("\f", 2), ("á", None), ("😀", None)]
)
def test_septets(char: str, cost: int | None) -> None:
    assert sms.septets(char) == cost


@pytest.mark.parametrize(
    ("text", "encoding", "units", "segments"),
    [
        ("", "gsm7", 0, 1),
        ("a", "gsm7", 1, 1),
        ("a" * 160, "gsm7", 160, 1),
        ("a" * 161, "gsm7", 161, 2),
        ("a" * 153 * 2, "gsm7", 306, 2),
        ("a" * (153 * 2 + 1), "gsm7", 307, 3),
        ("ñ" * 160, "gsm7", 160, 1),
        ("€" * 80, "gsm7", 160, 1),
        ("a" * 159 + "€", "gsm7", 161, 2),
        # 152 septets, then an escape sequence that would straddle the boundary: it moves to part two.
        ("a" * 152 + "€" + "b" * 10, "gsm7", 164, 2),
        ("€" * 153, "gsm7", 306, 3),  # 76 per part (152 septets), so three parts, not two
        ("á" * 70, "ucs2", 70, 1),
        ("á" * 71, "ucs2", 71, 2),
        ("á" * 67 * 2, "ucs2", 134, 2),
        ("á" * (67 * 2 + 1), "ucs2", 135, 3),
        ("😀", "ucs2", 2, 1),
        ("😀" * 35, "ucs2", 70, 1),
        ("😀" * 36, "ucs2", 72, 2),
        ("a😀" * 23 + "a", "ucs2", 70, 1),
        ("😀" * 67, "ucs2", 134, 3),  # 33 pairs per part (66 units): a pair is never split
        ("á" * 66 + "😀", "ucs2", 68, 1),
        ("á" * 66 + "😀" + "á" * 3, "ucs2", 71, 2),
    ],
)
def test_size(text: str, encoding: str, units: int, segments: int) -> None:
    assert sms.size(text) == sms.Size(encoding, units, segments)
    assert len(sms.split(text)) == segments


def test_split_never_breaks_an_escape_sequence() -> None:
    parts = sms.split("a" * 152 + "€" + "b" * 10)
    assert parts == ["a" * 152, "€" + "b" * 10]


def test_split_never_breaks_a_surrogate_pair() -> None:
    parts = sms.split("á" * 66 + "😀" + "á" * 10)
    assert parts == ["á" * 66, "😀" + "á" * 10]


def test_split_fills_parts() -> None:
    assert sms.split("a" * 161) == ["a" * 153, "a" * 8]
    assert sms.split("á" * 71) == ["á" * 67, "á" * 4]
    assert sms.split("hola") == ["hola"]
    assert sms.split("") == [""]


def test_non_gsm7_names_what_forces_ucs2() -> None:
    assert sms.non_gsm7("¿Cómo está? 😀 ó") == ["ó", "á", "😀"]
    assert sms.non_gsm7("¿Como esta?") == []


@pytest.mark.parametrize(
    ("text", "expected", "changes"),
    [
        ("¿Cómo está? Ánimo", "¿Como esta? Animo", [("ó", "o", 1), ("á", "a", 1), ("Á", "A", 1)]),
        ("Día, mamá, papá", "Dia, mama, papa", [("í", "i", 1), ("á", "a", 2)]),
        (
            "ÍÓÚ íóú",
            "IOU iou",
            [("Í", "I", 1), ("Ó", "O", 1), ("Ú", "U", 1), ("í", "i", 1), ("ó", "o", 1), ("ú", "u", 1)],
        ),
        (
            "“Sí” — listo…",
            '"Si" - listo...',
            [("“", '"', 1), ("í", "i", 1), ("”", '"', 1), ("—", "-", 1), ("…", "...", 1)],
        ),
        ("Cita 1º de marzo", "Cita 1o de marzo", [("º", "o", 1)]),
        ("Fuerza", "Fuerza", []),
    ],
)
def test_transliterate_spanish(text: str, expected: str, changes: list[tuple[str, str, int]]) -> None:
    result = sms.transliterate(text)
    assert result.text == expected
    assert [(c.original, c.replacement, c.count) for c in result.changes] == changes
    assert result.changed == bool(changes)
    assert result.blocking == ()
    assert sms.is_gsm7(result.text)


def test_transliterate_keeps_what_gsm7_has() -> None:
    text = "Niña, bebé, pingüino: ¡ÑÉÜ! ¿ñéü?"
    result = sms.transliterate(text)
    assert result.text == text
    assert result.changes == ()


def test_transliterate_leaves_text_alone_when_it_stays_ucs2() -> None:
    text = "¡Felicidades, mamá! 🎉"
    result = sms.transliterate(text)
    assert result.text == text
    assert result.changes == ()
    assert result.blocking == ("🎉",)
    assert sms.encoding_of(result.text) == "ucs2"


def test_transliteration_table_only_maps_into_gsm7() -> None:
    for original, replacement in sms.TRANSLITERATIONS.items():
        assert not sms.is_gsm7(original), original
        assert sms.is_gsm7(replacement), original
    for kept in SPANISH_GSM7:
        assert kept not in sms.TRANSLITERATIONS


def test_transliteration_saves_parts() -> None:
    text = "Recuerda tu cita en la clínica el próximo miércoles. " * 2  # 106 characters with accents
    assert sms.size(text) == sms.Size("ucs2", 106, 2)
    assert sms.size(sms.transliterate(text).text) == sms.Size("gsm7", 106, 1)


# Text weighted towards what recado sends: GSM-7 characters, the extension table, Spanish accents and emoji.
_characters = st.one_of(
    st.sampled_from(sorted(sms.GSM7)),
    st.sampled_from(sorted(sms.TRANSLITERATIONS)),
    st.sampled_from(["😀", "🎉", "👶", "\U0001f3fd", "\U0010fffd"]),
    st.characters(exclude_categories=["Cs"]),
)
texts = st.one_of(
    st.text(_characters, max_size=400), st.text(st.sampled_from(sorted(sms.GSM7)), max_size=480)
)


def _units(part: str, encoding: str) -> int:
    if encoding == "gsm7":
        return sum(2 if c in sms.GSM7_EXTENSION else 1 for c in part)
    return len(part.encode("utf-16-le")) // 2


@settings(max_examples=300, deadline=None)
@given(texts)
def test_split_rejoins_and_every_part_fits(text: str) -> None:
    parts = sms.split(text)
    size = sms.size(text)
    assert "".join(parts) == text
    assert len(parts) == size.segments
    assert size.units == _units(text, size.encoding)
    single = sms.GSM7_SINGLE if size.encoding == "gsm7" else sms.UCS2_SINGLE
    per_part = sms.GSM7_PART if size.encoding == "gsm7" else sms.UCS2_PART
    if len(parts) == 1:
        assert _units(parts[0], size.encoding) <= single
    else:
        assert size.units > single
        assert all(0 < _units(p, size.encoding) <= per_part for p in parts)
        # Greedy: a part ends only when the next character would not fit.
        for part, following in itertools.pairwise(parts):
            assert _units(part + following[0], size.encoding) > per_part


@settings(max_examples=200, deadline=None)
@given(texts)
def test_transliteration_is_all_or_nothing(text: str) -> None:
    result = sms.transliterate(text)
    if result.blocking:
        assert result.text == text
        assert set(result.blocking) == set(sms.non_gsm7(text)) - set(sms.TRANSLITERATIONS)
    else:
        assert sms.is_gsm7(result.text)
        assert sms.size(result.text).segments <= sms.size(text).segments
        for kept in SPANISH_GSM7:  # no replacement produces these, so none may be lost or gained
            assert result.text.count(kept) == text.count(kept)
        assert sum(c.count for c in result.changes) == sum(1 for c in text if c in sms.TRANSLITERATIONS)


def test_a_lone_surrogate_costs_one_unit_as_in_split() -> None:
    # Text from a broken UTF-16 source can hold half a pair: counted as the one code unit it is.
    text = "a\ud83d" * 40
    size = sms.size(text)
    assert (size.encoding, size.units, size.segments) == ("ucs2", 80, 2)
    assert len(sms.split(text)) == size.segments
