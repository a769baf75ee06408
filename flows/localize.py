"""Which language a contact is spoken to in, and the translated text of a flow item.

As goflow does: the contact's language when the environment allows it, else the environment's default
language; a translation is used item by item where the flow has one, and the flow's own text otherwise.
"""

from __future__ import annotations

from flows.contact import Contact
from flows.env import Environment
from flows.model import Flow


def language_for(contact: Contact, env: Environment) -> str:
    if contact.language and contact.language in env.allowed_languages:
        return contact.language
    return env.default_language


def translated(
    flow: Flow, language: str, item_uuid: str, prop: str, base: tuple[str, ...]
) -> tuple[tuple[str, ...], str]:
    """The values of ``prop`` of the item in ``language`` and the language they are in (the flow's own
    language when there is no translation)."""
    if language != flow.language:
        values = flow.localization.get(language, {}).get(item_uuid, {}).get(prop)
        if values:
            return tuple(values), language
    return base, flow.language
