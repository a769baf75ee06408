"""Vendor profiles: what differs between the modems sites actually plug in, as data.

The formats come from public captures (python-gsmmodem's ``test/fakemodems.py`` profiles, gammu's
``tests/at-*`` dumps, vendor AT manuals); see ``reference/modems.md`` §3 and §7. Only what a driver has to
cope with is modelled: identity strings, boot and noise URCs, the first storage index, the reply to an
unknown command, and Quectel's habit of announcing status reports in the wrong memory.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Final


@dataclass(frozen=True)
class Profile:
    name: str
    manufacturer: str
    model: str
    revision: str
    boot_urcs: tuple[str, ...]  # lines sent after power-up, in order; "{cpin}" becomes READY or SIM PIN
    noise_urcs: tuple[str, ...] = ()  # unsolicited status lines the modem repeats while idle
    noise_interval: float = 0.0  # seconds between two noise lines; 0 = no noise
    first_index: int = 1  # storage indices start at 0 on Huawei and Quectel, 1 elsewhere
    unknown_command: str = "ERROR"  # Huawei says COMMAND NOT SUPPORT
    cdsi_memory: str = "SR"  # the memory named in +CDSI (Quectel EC25 says "SM" for an SR index)
    iccid_command: str = "+CCID"
    extra_commands: dict[str, tuple[str, ...]] = field(default_factory=dict)  # vendor queries → reply lines


GENERIC: Final = Profile(
    name="generic",
    manufacturer="recado",
    model="Virtual GSM Modem",
    revision="1.0",
    boot_urcs=("RDY", "+CPIN: {cpin}"),
)

HUAWEI: Final = Profile(
    name="huawei",
    manufacturer="huawei",
    model="E3131",
    revision="21.158.23.00.209",
    boot_urcs=("^BOOT:21395478,0,0,0,72", "^SYSSTART", "+CPIN: {cpin}"),
    noise_urcs=("^RSSI:17", "^BOOT:21395478,0,0,0,72", "^MODE:5,4", "^RSSI:18", "^SRVST:2"),
    noise_interval=3.0,
    first_index=0,
    unknown_command="COMMAND NOT SUPPORT",
    iccid_command="^ICCID",
    extra_commands={"^SYSINFO": ("^SYSINFO:2,3,0,5,1,,4",), "^USSDMODE?": ("^USSDMODE: 0",)},
)

SIMCOM: Final = Profile(
    name="simcom",
    manufacturer="SIMCOM_Ltd",
    model="SIMCOM_SIM800L",
    revision="Revision:1418B04SIM800L24",
    boot_urcs=("RDY", "+CFUN: 1", "+CPIN: {cpin}", "Call Ready", "SMS Ready"),
    extra_commands={"+CLAC": ("+CME ERROR: 100",)},
)

QUECTEL: Final = Profile(
    name="quectel",
    manufacturer="Quectel",
    model="EC25",
    revision="EC25EFAR06A06M4G",
    boot_urcs=("RDY", "+CFUN: 1", "+CPIN: {cpin}", "+QUSIM: 1", "+QIND: SMS DONE", "+QIND: PB DONE"),
    noise_urcs=('+QIND: "csq",18,99',),
    noise_interval=0.0,
    first_index=0,
    cdsi_memory="SM",
    iccid_command="+QCCID",
)

PROFILES: Final = {profile.name: profile for profile in (GENERIC, HUAWEI, SIMCOM, QUECTEL)}


def profile_named(name: str) -> Profile:
    try:
        return PROFILES[name]
    except KeyError:
        raise ValueError(f"unknown modem profile {name!r}; known: {', '.join(PROFILES)}") from None
