"""Final result codes: the line that ends a command's response.

27.007 §4.2 and 27.005 §3.2.5 define ``OK``, ``ERROR``, ``+CME ERROR: <n>`` and ``+CMS ERROR: <n>`` (numeric
with ``+CMEE=1``, text with ``+CMEE=2``). Modems add their own: Huawei answers an unknown command with
``COMMAND NOT SUPPORT`` or ``TOO MANY PARAMETERS`` instead of ``ERROR``, and the V.25ter call results
(``NO CARRIER``, ``BUSY``...) still end a command on every modem.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final, Literal

FinalKind = Literal["ok", "error", "cme", "cms", "timeout"]

# Lines that end a command as a failure without a 27.007 code: call results and vendor spellings of ERROR.
VENDOR_ERRORS: Final = frozenset(
    {
        "NO CARRIER",
        "BUSY",
        "NO ANSWER",
        "NO DIALTONE",
        "COMMAND NOT SUPPORT",  # Huawei
        "TOO MANY PARAMETERS",  # Huawei
    }
)

# The +CME ERROR texts of +CMEE=2 that recado acts on, so a modem left in verbose mode is still understood.
CME_TEXTS: Final[dict[str, int]] = {
    "phone failure": 0,
    "operation not allowed": 3,
    "operation not supported": 4,
    "sim not inserted": 10,
    "sim pin required": 11,
    "sim puk required": 12,
    "sim failure": 13,
    "sim busy": 14,
    "sim wrong": 15,
    "incorrect password": 16,
    "memory full": 20,
    "invalid index": 21,
    "not found": 22,
    "no network service": 30,
    "network timeout": 31,
    "unknown": 100,
}


@dataclass(frozen=True)
class FinalResult:
    """How a command ended. ``code`` is the CME/CMS number when the modem gave one."""

    kind: FinalKind
    code: int | None = None
    text: str = ""

    @property
    def ok(self) -> bool:
        return self.kind == "ok"

    def __str__(self) -> str:
        if self.kind in ("cme", "cms") and self.code is not None:
            return f"+{self.kind.upper()} ERROR: {self.code}"
        return self.text or self.kind.upper()


TIMEOUT: Final = FinalResult("timeout", text="timeout")


def parse_final(line: str) -> FinalResult | None:
    """The final result ``line`` stands for, or None when it is an ordinary response line."""
    if line == "OK":
        return FinalResult("ok", text=line)
    if line == "ERROR" or line in VENDOR_ERRORS:
        return FinalResult("error", text=line)
    for kind, prefix in (("cme", "+CME ERROR:"), ("cms", "+CMS ERROR:")):
        if line.startswith(prefix):
            detail = line[len(prefix) :].strip()
            code = (
                int(detail) if detail.isdigit() else CME_TEXTS.get(detail.lower()) if kind == "cme" else None
            )
            return FinalResult("cme" if kind == "cme" else "cms", code, line)
    return None
