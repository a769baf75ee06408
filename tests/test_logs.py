"""Logs never carry a full phone number or a secret."""

from __future__ import annotations

import io
import json
import logging

import pytest

from recado.logs import redact, redact_phone, setup_logging


@pytest.mark.parametrize(
    ("raw", "shown"),
    [("+525512345678", "+52******5678"), ("+5215512345678", "+52*******5678"), ("5512345678", "******5678")],
)
def test_redact_phone(raw: str, shown: str) -> None:
    assert redact_phone(raw) == shown


@pytest.mark.parametrize(
    "text",
    [
        "sms from +525512345678 queued",
        "sms from +52 55 1234 5678 queued",
        "Authorization: Bearer eyJhbGciOiJFZERTQSJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJl",
        "login password=hunter2hunter2 for admin",
        "-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEI\n-----END PRIVATE KEY-----",
    ],
)
def test_redact_removes_numbers_and_secrets(text: str) -> None:
    out = redact(text)
    for secret in ("5512345678", "55 1234 5678", "eyJzdWIi", "hunter2", "MC4CAQ"):
        assert secret not in out


def test_redact_keeps_ordinary_numbers() -> None:
    assert redact("leased 50 messages in 1234 ms") == "leased 50 messages in 1234 ms"


def test_json_logs_are_redacted_including_args_and_tracebacks() -> None:
    stream = io.StringIO()
    setup_logging(json_lines=True, stream=stream)
    log = logging.getLogger("recado.test")
    log.info("reply from %s", "+525512345678")
    try:
        raise ValueError("bad number +525587654321")
    except ValueError:
        log.exception("failed")
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert lines[0]["message"] == "reply from +52******5678"
    assert "87654321" not in lines[1]["exception"]


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("next run at: 2026-12-02 09:59:17 UTC", "next run at: 2026-12-02 09:59:17 UTC"),
        ("due 2027-03-01T09:30:00+00:00", "due 2027-03-01T09:30:00+00:00"),
        ("2026-12-02 sms from 55 1234 5678", "2026-12-02 sms from ******5678"),
        ("2026-12-02 09:59 +525512345678 wrote", "2026-12-02 09:59 +52******5678 wrote"),
    ],
)
def test_dates_and_times_are_not_taken_for_phone_numbers(line: str, expected: str) -> None:
    assert redact(line) == expected
