"""Server configuration: one TOML file plus ``RECADO_*`` environment variables.

Precedence, lowest first: built-in defaults, ``recado.toml`` (in the data directory, or the path given),
environment variables, then command-line options (applied by the CLI with :func:`dataclasses.replace`).
"""

from __future__ import annotations

import dataclasses
import functools
import os
import re
import tomllib
import zoneinfo
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import platformdirs

from server.link.window import DeliveryWindow, InvalidWindow, parse_window

CONFIG_FILENAME = "recado.toml"
ENV_PREFIX = "RECADO_"


class ConfigError(ValueError):
    """The configuration cannot be used; the message says which setting and why."""


def default_data_dir() -> Path:
    return Path(platformdirs.user_data_dir("recado", appauthor=False))


@dataclass(frozen=True)
class Config:
    data_dir: Path = field(default_factory=default_data_dir)
    # Empty means the embedded SQLite file inside the data directory.
    database_url: str = ""
    host: str = "127.0.0.1"
    port: int = 8080
    programme_timezone: str = "America/Mexico_City"
    default_region: str = "MX"
    default_language: str = "spa"
    log_json: bool = False
    log_level: str = "INFO"
    token_issuer: str = "recado"
    token_audience: str = "recado-api"
    session_token_minutes: int = 15
    long_lived_token_days: int = 3650
    max_body_bytes: int = 1024 * 1024
    max_import_bytes: int = 64 * 1024 * 1024
    login_attempts_per_minute: int = 5
    # Inbound keywords by language (ISO 639-3 code → words, comma-separated, in any case). A message that is
    # only an opt-out keyword of any language stops the contact (no more messages, an audited change); a
    # stopped contact whose message starts with an opt-in keyword of any language is active again. Each is
    # confirmed with a reply in her language, else in the language of the keyword she used, else the
    # programme's. A plain text instead of a table is the default language's.
    opt_out_keywords: Mapping[str, str] = field(default_factory=lambda: {"spa": "BAJA,ALTO,STOP"})
    opt_in_keywords: Mapping[str, str] = field(default_factory=lambda: {"spa": "ALTA"})
    opt_out_reply: Mapping[str, str] = field(
        default_factory=lambda: {
            "spa": "Ya no recibirás mensajes de este programa. Para volver a recibirlos, envía ALTA."
        }
    )
    opt_in_reply: Mapping[str, str] = field(
        default_factory=lambda: {"spa": "¡Bienvenida de nuevo! Volverás a recibir los mensajes del programa."}
    )
    # The flow (by name) a contact's very first message starts when no keyword matches; empty: none.
    new_contact_flow: str = ""
    # The runner: handles inbound messages, wait timeouts and session expiry, and makes flows' webhook calls.
    runner_enabled: bool = True
    runner_tick_seconds: int = 5
    webhook_timeout_seconds: int = 10
    # Local hours (the contact's timezone, else the programme's) in which bulk messages may go out;
    # replies and alerts go at any hour. HH:MM-HH:MM, from the start up to the end; 00:00-24:00 is always.
    delivery_window: str = "08:00-20:00"
    # Campaign events missed while the server was down are still sent when they are at most this many hours
    # late; older ones are recorded as skipped. 0 sends only what is on time.
    campaign_catch_up_hours: int = 6
    # Alerts: who is texted when a flow raises one, by the contact's clinic (her `clinica` field):
    # "Clínica A=+52...,+52...; Clínica B=+52...; *=+52...", where "*" lists who hears of alerts from any other
    # clinic (or none). Clinic names match ignoring capitals, accents and extra spaces.
    alert_staff: str = ""
    # Outgoing event webhooks: receivers' URLs (comma-separated) get message, result and alert events, signed
    # with HMAC-SHA256 under the secret. A failed delivery is tried again, waiting twice as long after each
    # failure, up to the number of attempts; then it is kept as a dead letter.
    event_webhook_urls: str = ""
    event_webhook_secret: str = ""
    event_webhook_attempts: int = 8
    event_webhook_backoff_seconds: int = 30
    # The demo's clock (`recado demo` turns it on): the server's time is the system's plus an offset kept in
    # demo-clock.json in the data directory, moved forward by admins with POST /api/v1/demo/clock. Never on a
    # real site: it makes every schedule, token and report follow a time that is not the real one.
    demo_clock: bool = False

    @property
    def sqlite_path(self) -> Path:
        return self.data_dir / "recado.sqlite3"

    @property
    def keys_dir(self) -> Path:
        return self.data_dir / "keys"

    @property
    def effective_database_url(self) -> str:
        return self.database_url or f"sqlite+aiosqlite:///{self.sqlite_path}"

    @functools.cached_property
    def opt_out_words(self) -> Mapping[str, frozenset[str]]:
        """Language → its opt-out words, lower-cased as inbound messages are compared."""
        return {language: _keywords(text) for language, text in self.opt_out_keywords.items()}

    @functools.cached_property
    def opt_in_words(self) -> Mapping[str, frozenset[str]]:
        return {language: _keywords(text) for language, text in self.opt_in_keywords.items()}

    @property
    def window(self) -> DeliveryWindow:
        return parse_window(self.delivery_window)

    @property
    def tz(self) -> zoneinfo.ZoneInfo:
        return zoneinfo.ZoneInfo(self.programme_timezone)

    def validate(self) -> Config:
        try:
            zoneinfo.ZoneInfo(self.programme_timezone)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError) as exc:
            raise ConfigError(f"programme_timezone: unknown timezone {self.programme_timezone!r}") from exc
        if not 0 < self.port < 65536:
            raise ConfigError(f"port: {self.port} is not a TCP port")
        if self.runner_tick_seconds < 1:
            raise ConfigError(f"runner_tick_seconds: {self.runner_tick_seconds} must be at least 1")
        if self.webhook_timeout_seconds < 1:
            raise ConfigError(f"webhook_timeout_seconds: {self.webhook_timeout_seconds} must be at least 1")
        if self.campaign_catch_up_hours < 0:
            raise ConfigError(f"campaign_catch_up_hours: {self.campaign_catch_up_hours} must not be negative")
        try:
            parse_window(self.delivery_window)
        except InvalidWindow as exc:
            raise ConfigError(f"delivery_window: {self.delivery_window!r}: {exc}") from exc
        _check_event_settings(self)
        _check_opt_out_settings(self)
        url = self.effective_database_url
        if not url.startswith(("sqlite+aiosqlite://", "postgresql+asyncpg://", "postgresql://")):
            raise ConfigError("database_url: use sqlite+aiosqlite:///PATH or postgresql+asyncpg://...")
        return self


def _check_event_settings(config: Config) -> None:
    """The alert, anonymity and event-webhook settings, checked by the modules that read them."""
    # Imported here: those modules import the storage layer, which has no business loading with the settings.
    from server.alerts import InvalidStaff, parse_staff
    from server.webhooks_out import InvalidEndpoints, parse_endpoints

    try:
        parse_staff(config.alert_staff, region=config.default_region)
    except InvalidStaff as exc:
        raise ConfigError(f"alert_staff: {exc}") from exc
    try:
        parse_endpoints(config.event_webhook_urls, config.event_webhook_secret)
    except InvalidEndpoints as exc:
        raise ConfigError(f"event_webhook_urls: {exc}") from exc
    if not 1 <= config.event_webhook_attempts <= 20:
        raise ConfigError(f"event_webhook_attempts: {config.event_webhook_attempts} must be from 1 to 20")
    if config.event_webhook_backoff_seconds < 1:
        raise ConfigError(
            f"event_webhook_backoff_seconds: {config.event_webhook_backoff_seconds} must be at least 1"
        )


def _check_opt_out_settings(config: Config) -> None:
    for name in PER_LANGUAGE:
        table: Mapping[str, str] = getattr(config, name)
        if not table:
            raise ConfigError(f"{name}: give at least one language")
        for language, text in table.items():
            if not _LANGUAGE.fullmatch(language):
                raise ConfigError(f"{name}: {language!r} is not an ISO 639-3 language code (like spa or eng)")
            if not text.strip():
                raise ConfigError(f"{name}.{language}: is empty")
    opt_out = {word for words in config.opt_out_words.values() for word in words}
    opt_in = {word for words in config.opt_in_words.values() for word in words}
    if shared := sorted(opt_out & opt_in):
        raise ConfigError(f"opt_out_keywords and opt_in_keywords share a word: {', '.join(shared)}")


def _keywords(text: str) -> frozenset[str]:
    """Comma-separated words, lower-cased as inbound messages are compared."""
    return frozenset(word.strip().lower() for word in text.split(",") if word.strip())


_FIELDS = {f.name: f for f in dataclasses.fields(Config)}
# Settings that existed once, with what replaces them, so an old recado.toml fails with a way forward.
REMOVED = {
    "anonymous_flows": "mark each anonymous flow with `anonymous: true` in its file, then load the programme",
}
# Settings with a value per language: a table in the file, RECADO_<SETTING>_<LANGUAGE> in the environment.
PER_LANGUAGE = ("opt_out_keywords", "opt_in_keywords", "opt_out_reply", "opt_in_reply")
_LANGUAGE = re.compile(r"[a-z]{3}")
_DEFAULT_LANGUAGE = ""  # stands for default_language until the whole configuration is read


def _per_language(name: str, raw: Any) -> dict[str, str]:
    if isinstance(raw, str):
        return {_DEFAULT_LANGUAGE: raw}
    if not isinstance(raw, Mapping):
        raise ConfigError(f'{name}: give a text, or a table of texts by language (spa = "...")')
    table: dict[str, str] = {}
    for language, text in raw.items():
        if not isinstance(language, str) or not (
            _LANGUAGE.fullmatch(language) or language == _DEFAULT_LANGUAGE
        ):
            raise ConfigError(f"{name}: {language!r} is not an ISO 639-3 language code (like spa or eng)")
        if not isinstance(text, str):
            raise ConfigError(f"{name}.{language}: {text!r} is not a text")
        table[language] = text
    return table


def _coerce(name: str, raw: Any) -> Any:
    if name in PER_LANGUAGE:
        return _per_language(name, raw)
    current = getattr(Config(data_dir=Path()), name)
    try:
        if isinstance(current, bool):
            if isinstance(raw, bool):
                return raw
            text = str(raw).strip().lower()
            if text in {"1", "true", "yes", "on"}:
                return True
            if text in {"0", "false", "no", "off"}:
                return False
            raise ValueError(raw)
        if isinstance(current, int):
            if isinstance(raw, bool):
                raise ValueError(raw)
            return int(raw)
        if isinstance(current, Path):
            return Path(str(raw)).expanduser()
        if isinstance(raw, (dict, list)):
            raise ValueError(raw)
        return str(raw)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{name}: {raw!r} is not a valid {type(current).__name__}") from exc


def _apply(values: dict[str, Any], source: Mapping[str, Any], where: str) -> None:
    for key, raw in source.items():
        if key not in _FIELDS:
            if key in REMOVED:
                raise ConfigError(f"{where}: the setting {key!r} was removed: {REMOVED[key]}")
            raise ConfigError(f"{where}: unknown setting {key!r}")
        coerced = _coerce(key, raw)
        if key in PER_LANGUAGE:  # each source replaces the languages it names and keeps the others
            earlier = values[key] if key in values else getattr(Config(data_dir=Path()), key)
            coerced = {**earlier, **coerced}
        values[key] = coerced


def load_config(
    *,
    data_dir: Path | str | None = None,
    config_file: Path | str | None = None,
    environ: Mapping[str, str] | None = None,
    **overrides: Any,
) -> Config:
    """Build the configuration from defaults, the TOML file, the environment and explicit overrides."""
    env = os.environ if environ is None else environ
    values: dict[str, Any] = {}

    env_values: dict[str, Any] = {
        key[len(ENV_PREFIX) :].lower(): value
        for key, value in env.items()
        if key.startswith(ENV_PREFIX) and key[len(ENV_PREFIX) :].lower() in _FIELDS
    }
    for key, value in env.items():
        setting, _, language = key[len(ENV_PREFIX) :].lower().rpartition("_")
        if key.startswith(ENV_PREFIX) and setting in PER_LANGUAGE and _LANGUAGE.fullmatch(language):
            env_values[setting] = {**_per_language(setting, env_values.get(setting, {})), language: value}
    chosen_dir = data_dir if data_dir is not None else env_values.get("data_dir")
    base_dir = Path(chosen_dir).expanduser() if chosen_dir is not None else default_data_dir()

    path = Path(config_file) if config_file is not None else base_dir / CONFIG_FILENAME
    if config_file is not None and not path.is_file():
        raise ConfigError(f"config file {path} does not exist")
    if path.is_file():
        try:
            with path.open("rb") as fh:
                parsed = tomllib.load(fh)
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{path}: {exc}") from exc
        server_section = parsed.get("server", parsed)
        if not isinstance(server_section, dict):
            raise ConfigError(f"{path}: [server] must be a table")
        settings = {k: v for k, v in server_section.items() if k in PER_LANGUAGE or not isinstance(v, dict)}
        _apply(values, settings, str(path))

    _apply(values, env_values, "environment")
    _apply(values, {k: v for k, v in overrides.items() if v is not None}, "option")
    values["data_dir"] = Path(values.get("data_dir", base_dir)) if data_dir is None else Path(data_dir)
    default_language = values.get("default_language", Config.default_language)
    for name in PER_LANGUAGE:
        if _DEFAULT_LANGUAGE in values.get(name, {}):
            table = dict(values[name])
            table[default_language] = table.pop(_DEFAULT_LANGUAGE)
            values[name] = table
    return Config(**values).validate()
