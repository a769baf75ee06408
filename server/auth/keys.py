"""The Ed25519 keys that sign recado's tokens.

Each key lives in ``<data_dir>/keys/signing-<kid>.pem`` (mode 0600). The newest key signs; every key on disk
still verifies, so a key can be rotated by adding a new one and removing the old one once its tokens expire.
"""

from __future__ import annotations

import base64
import hashlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

KEY_GLOB = "signing-*.pem"


class KeyError_(RuntimeError):
    """A signing key is missing, unreadable or readable by others."""


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _public_bytes(key: Ed25519PublicKey) -> bytes:
    return key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def key_id(public_key: Ed25519PublicKey) -> str:
    return _b64url(hashlib.sha256(_public_bytes(public_key)).digest()[:12])


@dataclass(frozen=True)
class SigningKey:
    kid: str
    private_key: Ed25519PrivateKey
    created: float

    @property
    def public_key(self) -> Ed25519PublicKey:
        return self.private_key.public_key()

    def jwk(self) -> dict[str, Any]:
        return {
            "kty": "OKP",
            "crv": "Ed25519",
            "x": _b64url(_public_bytes(self.public_key)),
            "kid": self.kid,
            "alg": "EdDSA",
            "use": "sig",
        }


class Keyring:
    def __init__(self, keys: list[SigningKey]) -> None:
        if not keys:
            raise KeyError_("no signing key: run `recado init` first")
        self._keys = sorted(keys, key=lambda k: k.created)
        # Derived once: every request's token is checked against one of these.
        self._public_by_kid = {k.kid: k.public_key for k in self._keys}

    @property
    def active(self) -> SigningKey:
        return self._keys[-1]

    def public_key(self, kid: str) -> Ed25519PublicKey | None:
        return self._public_by_kid.get(kid)

    def jwks(self) -> dict[str, Any]:
        return {"keys": [k.jwk() for k in self._keys]}


def create_signing_key(keys_dir: Path) -> SigningKey:
    keys_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    private_key = Ed25519PrivateKey.generate()
    kid = key_id(private_key.public_key())
    pem = private_key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    path = keys_dir / f"signing-{kid}.pem"
    # O_EXCL with 0600 from the start: the key is never readable by others, not even for a moment.
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(pem)
    return SigningKey(kid, private_key, path.stat().st_mtime)


def load_keyring(keys_dir: Path) -> Keyring:
    keys: list[SigningKey] = []
    for path in sorted(keys_dir.glob(KEY_GLOB)):
        mode = path.stat().st_mode & 0o777
        if mode & 0o077:
            raise KeyError_(f"{path} is readable by other users (mode {mode:o}); chmod 600 it")
        private_key = serialization.load_pem_private_key(path.read_bytes(), password=None)
        if not isinstance(private_key, Ed25519PrivateKey):
            raise KeyError_(f"{path} is not an Ed25519 key")
        keys.append(SigningKey(key_id(private_key.public_key()), private_key, path.stat().st_mtime))
    return Keyring(keys)


def ensure_keyring(keys_dir: Path) -> Keyring:
    if not any(keys_dir.glob(KEY_GLOB)):
        create_signing_key(keys_dir)
    return load_keyring(keys_dir)
