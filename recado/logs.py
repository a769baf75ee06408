"""Logging for every recado process: readable or JSON, and never a full phone number or a secret.

Redaction is a filter on the handler, so it also covers log lines written by libraries.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import re
import sys
from typing import Any

# International numbers (with +) and long national digit runs, allowing the spaces and dashes people type.
# An ISO date (and time) is matched first and kept, so "2027-03-01 09:30" is not taken for a phone number.
_PHONE = re.compile(
    r"(?P<date>\b\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2})?)?)"
    r"|(?<![\w+])(?P<plus>\+?)(?P<number>\d[\d \-]{6,16}\d)(?!\w)"
)
_JWT = re.compile(r"\beyJ[\w-]{5,}\.[\w-]{5,}\.[\w-]*")
_BEARER = re.compile(r"(?i)(bearer\s+)\S+")
_SECRET_KV = re.compile(
    r"(?i)\b(password|passwd|secret|token|api_key|apikey|private_key)(\s*[=:]\s*)(\"[^\"]*\"|'[^']*'|\S+)"
)
_PEM = re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----.*?-----END [A-Z ]*PRIVATE KEY-----", re.S)


def redact_phone(number: str) -> str:
    """``+525512345678`` → ``+52******5678``: enough to tell numbers apart in a log, not to dial one."""
    digits = re.sub(r"\D", "", number)
    plus = "+" if number.strip().startswith("+") else ""
    if len(digits) <= 6:
        return plus + "*" * len(digits)
    head = digits[:2] if plus else ""
    return f"{plus}{head}{'*' * (len(digits) - len(head) - 4)}{digits[-4:]}"


def _phone_sub(match: re.Match[str]) -> str:
    if match.group("date"):
        return match.group(0)
    digits = re.sub(r"\D", "", match.group("number"))
    if len(digits) < 8:
        return match.group(0)
    return redact_phone(match.group("plus") + digits)


def redact(text: str) -> str:
    text = _PEM.sub("[private key]", text)
    text = _JWT.sub("[token]", text)
    text = _BEARER.sub(r"\1[token]", text)
    text = _SECRET_KV.sub(r"\1\2[secret]", text)
    return _PHONE.sub(_phone_sub, text)


class RedactingFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        record.msg = redact(message)
        record.args = None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        return True


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": dt.datetime.fromtimestamp(record.created, dt.UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_text:
            entry["exception"] = record.exc_text
        return json.dumps(entry, ensure_ascii=False)


def setup_logging(*, json_lines: bool = False, level: str = "INFO", stream: Any = None) -> logging.Handler:
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.addFilter(RedactingFilter())
    if json_lines:
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)-7s %(name)s: %(message)s"))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level.upper())
    # aiohttp's access log would print every gateway poll; keep it for debugging only.
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)
    # The scheduler announces every tick (every few seconds); its warnings and errors still show.
    logging.getLogger("apscheduler").setLevel(logging.WARNING)
    # At DEBUG these log every SQL statement with its values: message texts and contact ids are health data.
    for chatty in ("aiosqlite", "sqlalchemy.engine", "asyncpg"):
        logging.getLogger(chatty).setLevel(logging.WARNING)
    return handler
