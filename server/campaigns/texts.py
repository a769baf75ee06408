"""The text a campaign message event sends a contact: her language's translation, else the event's base
language's, else any; rendered per contact only when it holds expressions (``@contact.first_name``).

Most campaign texts are plain, and a batch sends one event's text to thousands of contacts, so the checked
text (its SMS parts and encoding) is worked out once per event and language.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping

from flows.contact import Assets, Contact
from flows.context import contact_context
from flows.env import Environment
from flows.excellent import evaluate_template
from flows.excellent.template import Expression, parse_template
from flows.model import CampaignEvent
from server import messages

UNDETERMINED = "und"  # what RapidPro exports call a text of no particular language


def choose_text(event: CampaignEvent, language: str | None) -> str:
    """The event's text for a contact who reads ``language`` (None: no preference)."""
    texts: Mapping[str, str] = event.message or {}
    for key in (language, event.base_language, UNDETERMINED):
        if key and texts.get(key, "").strip():
            return texts[key]
    return next((text for text in texts.values() if text.strip()), "")


@functools.lru_cache(maxsize=4096)
def plain_text(template: str) -> str | None:
    """The text as sent when it holds no expression (``@@`` is one ``@``); None when it must be rendered
    for each contact."""
    segments = parse_template(template)
    if any(isinstance(segment, Expression) for segment in segments):
        return None
    return "".join(segment.value for segment in segments if not isinstance(segment, Expression))


def sendable(text: str) -> messages.Text | None:
    """The text ready to queue, or None when it cannot be sent as SMS (empty, or too many parts)."""
    try:
        return messages.check_text(text)
    except messages.Invalid:
        return None


@functools.lru_cache(maxsize=4096)
def checked(text: str) -> messages.Text | None:
    """:func:`sendable`, remembered: for an event's text, sent as it is to thousands of contacts (a text
    rendered for one contact goes to :func:`sendable`)."""
    return sendable(text)


def render(template: str, contact: Contact, assets: Assets, env: Environment) -> str:
    """A text with expressions, for one contact: ``@contact``, ``@fields`` and ``@urns`` as flows see them
    (a campaign message belongs to no run, so ``@results`` and the like are empty)."""
    context = contact_context(contact, assets)
    scope = {
        "contact": context,
        "fields": context["fields"],
        "urns": {"tel": context["urn"]},
        "results": {},
        "globals": {},
        "locals": {},
    }
    text, _errors = evaluate_template(template, scope, env)
    return text
