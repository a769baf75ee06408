"""Values and text facts shared by the expression language and the router tests.

- ``convert``: the value model (``XError``, ``XFunction``) and every conversion, rendering and comparison.
- ``text``: words, case and whitespace as RapidPro computes them.
- ``numbers``: exact decimals, strict and fuzzy parsing, formatting.
- ``dates``: reading dates and times people type, ISO rendering, layouts such as ``DD/MM/YYYY``.
"""

from flows.values.convert import XError, XFunction, render_value

__all__ = ["XError", "XFunction", "render_value"]
