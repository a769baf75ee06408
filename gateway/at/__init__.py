"""The sans-IO AT core: a byte-fed state machine for one modem's command channel (no I/O, no clock).

:class:`Session` turns bytes from the modem into :data:`Event` values and commands into bytes to write;
:mod:`gateway.at.urc` recognises and reads unsolicited result codes; :mod:`gateway.at.results` the final
results; :mod:`gateway.at.concat` reassembles concatenated SMS. ``gateway/modem.py`` is the asyncio loop
around them.
"""

from gateway.at.core import (
    Busy,
    Command,
    Event,
    Late,
    Response,
    Session,
    Stray,
    Transmit,
    UrcEvent,
    decode_line,
)
from gateway.at.results import TIMEOUT, FinalResult, parse_final
from gateway.at.urc import Urc, is_urc, make_urc

__all__ = [
    "TIMEOUT",
    "Busy",
    "Command",
    "Event",
    "FinalResult",
    "Late",
    "Response",
    "Session",
    "Stray",
    "Transmit",
    "Urc",
    "UrcEvent",
    "decode_line",
    "is_urc",
    "make_urc",
    "parse_final",
]
