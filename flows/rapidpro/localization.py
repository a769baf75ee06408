"""A flow's translations: language → item uuid → property → texts, carried over as they are, apart from the
spec migrations that change them (goflow 13.2.0, 13.3.0, 13.6.1, 14.2.0, 14.3.1, 14.4.1)."""

from __future__ import annotations

from collections.abc import Callable, Collection

from flows.rapidpro.reader import Obj
from flows.rapidpro.state import NodeScope

# Localised properties that hold templates (goflow's template catalog): the rest (category names) are text.
TEMPLATE_PROPERTIES = frozenset({"text", "quick_replies", "attachments", "arguments", "subject", "body"})

Translations = dict[str, dict[str, dict[str, tuple[str, ...]]]]


def convert_localization(
    flow: Obj,
    base_language_replaced: bool,
    joined_cases: Collection[str],
    dropped_cases: Collection[str],
    template: Callable[[str], str],
    scope: NodeScope,
) -> Translations:
    """``joined_cases``: cases whose arguments are joined into one (14.3.1); ``dropped_cases``: webhook cases
    whose arguments must not be translated (14.4.1)."""
    localization = flow.opt_obj("localization")
    if localization is None:
        return {}
    result: Translations = {}
    for language in localization.data:
        if len(language) != 3 or (base_language_replaced and language == "und"):
            scope.report(
                "changed", "translation", f"translations into {language!r} dropped: not an ISO 639-3 code"
            )
            continue
        items = localization.obj(language)
        converted: dict[str, dict[str, tuple[str, ...]]] = {}
        for item_uuid in items.data:
            properties = items.obj(item_uuid)
            values: dict[str, tuple[str, ...]] = {}
            for name in properties.data:
                if name.startswith("_"):  # editor bookkeeping such as {"_ui": {"auto_translated": [...]}}
                    continue
                texts = properties.texts(name)
                if name == "arguments" and item_uuid in dropped_cases:
                    continue
                if name == "arguments" and item_uuid in joined_cases and len(texts) > 1:
                    texts = (" ".join(texts),)
                if name in TEMPLATE_PROPERTIES:
                    texts = tuple(template(text) for text in texts)
                values[name] = texts
            if values or not any(name == "arguments" for name in properties.data):
                converted[item_uuid] = values  # an item emptied only by dropping webhook arguments goes too
        result[language] = converted
    return result
