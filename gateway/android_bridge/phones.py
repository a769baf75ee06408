"""The paired-phone book: which Android phones this gateway knows, where they are and how to log in.

``recado phone pair`` writes it; an SMSGate channel that names a phone (``phone = "<device id>"``) reads the
phone's address and credentials from it when it starts, so a phone that moved to another address is fixed
by pairing it again, without touching ``gateway.toml``, and passwords stay out of the configuration file.

One small JSON file next to the spool (``phones.json``), written whole to a temporary file and renamed, with
mode 0600 because it holds phone passwords and shared secrets. Phones are keyed by the id the phone itself
reports (SMSGate's device id) or, for apps that dial in, by the name the technician gives.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import platformdirs

from gateway.private_files import write_private

ANDROID_MAX_COUNT = 30  # AOSP SmsUsageMonitor: parts per check period unless raised with adb
ANDROID_CHECK_PERIOD_S = 1800  # the period on Android 4.1+ builds; newer AOSP says 60 s: assume the long one
APPS = ("smsgate-local", "smsgate-cloud", "envaya", "smssync")


class PhoneBookError(ValueError):
    pass


@dataclass
class Sim:
    sim_number: int  # 1-based, as SMSGate numbers them
    phone_number: str | None = None
    carrier: str | None = None


@dataclass
class Phone:
    key: str  # the phone's device id, or the technician's name for an app without one
    app: str
    url: str | None = None  # where the gateway reaches the phone (SMSGate local), if it does
    user: str | None = None
    password: str | None = None  # or the shared secret of an app that dials in
    name: str | None = None
    sims: list[Sim] = field(default_factory=list)
    sms_limit: int = ANDROID_MAX_COUNT  # raised only when the technician says so (docs/technicians.md)
    check_period_s: int = ANDROID_CHECK_PERIOD_S
    paired_at: str | None = None
    updated_at: str | None = None

    def public(self) -> dict[str, Any]:
        """What may be printed: everything but the password."""
        data = asdict(self)
        data.pop("password")
        return data


PHONES_ENV = "RECADO_PHONES_FILE"


def default_path() -> Path:
    """``RECADO_PHONES_FILE`` (the systemd unit sets it, so the gateway and the technician's ``recado phone``
    commands share one book), else ``phones.json`` in the user's data directory."""
    chosen = os.environ.get(PHONES_ENV)
    return Path(chosen) if chosen else Path(platformdirs.user_data_dir("recado")) / "phones.json"


def load(path: Path) -> dict[str, Phone]:
    try:
        raw = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return {}
    except OSError as error:
        raise PhoneBookError(f"cannot read {path}: {error.strerror or error}") from error
    try:
        data = json.loads(raw)
        phones = {}
        for key, entry in data["phones"].items():
            sims = [Sim(**sim) for sim in entry.pop("sims", [])]
            phones[key] = Phone(key=key, sims=sims, **{k: v for k, v in entry.items() if k != "key"})
    except (ValueError, KeyError, TypeError, AttributeError) as error:
        raise PhoneBookError(f"{path} is not a phone book: {error}") from error
    return phones


def save(path: Path, phones: dict[str, Phone]) -> None:
    data = {"version": 1, "phones": {key: asdict(phone) for key, phone in sorted(phones.items())}}
    write_private(path, (json.dumps(data, indent=2, ensure_ascii=False) + "\n").encode("utf-8"))


def find(path: Path, key: str) -> Phone:
    phones = load(path)
    if key not in phones:
        raise PhoneBookError(f"no phone {key!r} in {path} (pair it with `recado phone pair`)")
    return phones[key]
