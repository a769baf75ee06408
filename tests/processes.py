"""Helpers for tests that run recado as real processes: free ports, a clean environment, JSON over loopback
HTTP, and waiting on a condition with a deadline (never a bare sleep)."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")

RECADO = [sys.executable, "-m", "recado"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def recado_env(**extra: str) -> dict[str, str]:
    """This environment without any RECADO_ setting of the machine running the tests, plus ``extra``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("RECADO_")}
    env["PYTHONUNBUFFERED"] = "1"
    env.update(extra)
    return env


class HttpError(Exception):
    def __init__(self, status: int, body: str) -> None:
        super().__init__(f"HTTP {status}: {body[:500]}")
        self.status = status
        self.body = body


def http_json(
    method: str, url: str, body: Any = None, headers: dict[str, str] | None = None, timeout: float = 30
) -> Any:
    """One JSON request to a loopback URL; HttpError for an answer that is not 2xx, OSError when nobody answers."""
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(  # noqa: S310 - loopback URLs built by the tests
        url, data=data, method=method, headers={"Content-Type": "application/json", **(headers or {})}
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as resp:  # noqa: S310 - loopback URL
            raw = resp.read()
    except urllib.error.HTTPError as exc:
        raise HttpError(exc.code, exc.read().decode("utf-8", "replace")) from None
    return json.loads(raw) if raw else None


def wait_until(
    check: Callable[[], T | None],
    what: str,
    deadline_s: float = 30,
    alive: Callable[[], str | None] = lambda: None,
) -> T:
    """Poll ``check`` until it returns something truthy, and return that. ``alive`` returns why waiting is
    pointless (a process died), which fails at once with that reason."""
    end = time.monotonic() + deadline_s
    while True:
        found = check()
        if found:
            return found
        dead = alive()
        if dead:
            raise AssertionError(f"waiting for {what}: {dead}")
        if time.monotonic() > end:
            raise AssertionError(f"{what}: not within {deadline_s} s")
        time.sleep(0.05)


def wait_for_health(url: str, proc: subprocess.Popen[Any], deadline_s: float = 30) -> dict[str, str]:
    """The server's /healthz answer, once it gives one."""

    def answer() -> dict[str, str] | None:
        try:
            body: dict[str, str] = http_json("GET", url, timeout=1)
            return body
        except (OSError, HttpError):
            return None

    def exited() -> str | None:
        return None if proc.poll() is None else f"server exited with {proc.returncode}"

    return wait_until(answer, "the server's /healthz", deadline_s, exited)
