"""The virtual GSM modem: a 27.005/27.007 modem on a pty, for demos, technician training and driver tests.

Start one in-process with :class:`VirtualModem` (asyncio) or :class:`ModemThread` (its own thread), or from a
terminal with ``recado sim modem``. ``docs/simulator.md`` describes the behaviour, the fault plan and the
HTTP control interface.
"""

from gateway.simulator.engine import (
    Inbound,
    ModemConfig,
    ModemEngine,
    Report,
    ReportNotRequested,
    SentMessage,
    SentPart,
)
from gateway.simulator.faults import ErrorFault, FaultPlan, Injection, Latency, Timing, Trigger
from gateway.simulator.modem import Traffic, VirtualModem
from gateway.simulator.profiles import PROFILES, Profile, profile_named
from gateway.simulator.thread import ModemThread

__all__ = [
    "PROFILES",
    "ErrorFault",
    "FaultPlan",
    "Inbound",
    "Injection",
    "Latency",
    "ModemConfig",
    "ModemEngine",
    "ModemThread",
    "Profile",
    "Report",
    "ReportNotRequested",
    "SentMessage",
    "SentPart",
    "Timing",
    "Traffic",
    "Trigger",
    "VirtualModem",
    "profile_named",
]
