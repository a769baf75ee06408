"""Which SMSGate phone is registered at a private-server endpoint, kept across gateway restarts.

The app registers once with the private token and from then on calls with the bearer token it was given.
The gateway keeps only the token's SHA-256 (the token is 256 random bits, so a plain hash is enough and a
stolen file does not let anyone call as the phone), the device id, the webhook signing key handed to the
phone (in clear: the gateway needs it to check signatures; a phone keeps it until it syncs its settings
again, so it must survive a restart) and the SIM numbers the phone reported.

One small JSON file per phone, written whole and renamed, mode 0600 (:func:`gateway.private_files.write_private`).
Registering again (a reinstalled app, or the app's answer to a 401) replaces the registration: one phone
per endpoint, and the old token stops working at once.

A second file lists the messages handed to the phone that have not reached a final state, so that after a
gateway restart the phone's reports on them still count and one it never confirmed is served again.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

from gateway.private_files import write_private

DEVICE_ID_LENGTH = 21  # the official server's nanoid length; the app shows it


class RegistrationError(ValueError):
    pass


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


@dataclass
class Registration:
    device_id: str
    token_sha256: str
    signing_key: str
    registered_at: float
    sims: list[int] = field(default_factory=list)
    push_token: bool = False  # the app uses FCM, so it will not open the SSE stream

    def accepts(self, token: str) -> bool:
        return hmac.compare_digest(token_hash(token).encode("ascii"), self.token_sha256.encode("ascii"))


def new_registration(now: float, sims: list[int], push_token: bool) -> tuple[Registration, str]:
    """A fresh registration and the bearer token to give the phone (returned once, never stored)."""
    token = secrets.token_urlsafe(32)
    device_id = secrets.token_urlsafe(16)[:DEVICE_ID_LENGTH]
    registration = Registration(
        device_id=device_id,
        token_sha256=token_hash(token),
        signing_key=secrets.token_urlsafe(24),
        registered_at=now,
        sims=sims,
        push_token=push_token,
    )
    return registration, token


def default_state_dir(book: Path) -> Path:
    """Where registrations live unless a channel says ``state_dir``: next to the phone book."""
    return book.parent / "smsgate-private"


def path_for(directory: Path, phone: str) -> Path:
    return directory / f"{quote(phone, safe='')}.json"


def messages_path_for(directory: Path, phone: str) -> Path:
    return directory / f"{quote(phone, safe='')}.messages.json"


def load_messages(path: Path) -> list[dict[str, Any]]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return []
    except OSError as error:
        raise RegistrationError(f"cannot read {path}: {error.strerror or error}") from error
    except ValueError as error:
        raise RegistrationError(f"{path} is not a list of handed messages: {error}") from error
    if not isinstance(data, list) or not all(isinstance(entry, dict) for entry in data):
        raise RegistrationError(f"{path} is not a list of handed messages")
    return data


def save_messages(path: Path, entries: list[dict[str, Any]]) -> None:
    write_private(path, (json.dumps(entries, ensure_ascii=False) + "\n").encode("utf-8"))


def load(path: Path) -> Registration | None:
    try:
        raw = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    except OSError as error:
        raise RegistrationError(f"cannot read {path}: {error.strerror or error}") from error
    try:
        data = json.loads(raw)
        registration = Registration(**data)
    except (ValueError, TypeError) as error:
        raise RegistrationError(f"{path} is not a phone registration: {error}") from error
    if not isinstance(registration.token_sha256, str) or len(registration.token_sha256) != 64:
        raise RegistrationError(f"{path} is not a phone registration: bad token hash")
    return registration


def save(path: Path, registration: Registration) -> None:
    write_private(path, (json.dumps(asdict(registration), indent=2) + "\n").encode("utf-8"))
