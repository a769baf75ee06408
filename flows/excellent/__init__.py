"""RapidPro's expression language ("Excellent"): templates such as ``Hola @contact.first_name`` and
``@(format_date(fields.due_date, "DD/MM/YYYY"))``, evaluated safely (no ``eval``) against a context.

The context is a mapping built by the engine; see ``flows.values.convert`` for the values it may hold.
Evaluation never raises: a failed expression is an ``XError`` value, rendered as nothing in a template and
reported among the errors returned beside the text.
"""

from flows.excellent.functions import lookup as lookup_function
from flows.excellent.template import (
    KNOWN_TOP_LEVELS,
    evaluate_expression,
    evaluate_template,
    evaluate_template_value,
)
from flows.values.convert import XError, XFunction, format_value, render_value

__all__ = [
    "KNOWN_TOP_LEVELS",
    "XError",
    "XFunction",
    "evaluate_expression",
    "evaluate_template",
    "evaluate_template_value",
    "format_value",
    "lookup_function",
    "render_value",
]
