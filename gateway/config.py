"""The gateway's configuration: a ``gateway.toml`` file, with command-line flags on top.

``recado gateway --server URL --token TOKEN --modem PATH`` needs no file at all; the file is for channels
with limits, phones, and tuning. Every key is checked: an unknown key or a wrong type is a
:class:`ConfigError` naming the key, never a gateway that starts with half its settings ignored.

```toml
server = "http://10.0.0.2:8080"
token_file = "/etc/recado/gateway.token"   # or token = "..." (or RECADO_GATEWAY_TOKEN)
spool = "/var/lib/recado/gateway.sqlite3"
region = "MX"                              # how numbers without a country code are read
timezone = "America/Mexico_City"           # when "today" of the daily caps begins

[link]       # wait_s, batch, backoff_min_s, backoff_max_s, lease_horizon_s, request_timeout_s, idle_s
[dispatch]   # sticky_down_s, failure_threshold, failure_cooldown_s, max_attempts, idle_s
[health]     # interval_s, timeout_s

[[channels]]
id = "telcel-1"
kind = "modem"
port = "/dev/serial/by-id/usb-HUAWEI_Mobile-if00-port0"
rate_per_minute = 20        # limits, in SMS parts: rate_per_minute, burst, daily_cap, window_max, window_s
daily_cap = 500
pin = "1234"                # anything else goes to the transport
```
"""

from __future__ import annotations

import dataclasses
import os
import re
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import platformdirs

from gateway.dispatcher import ChannelLimits, DispatchSettings
from gateway.link import LinkSettings

TOKEN_ENV = "RECADO_GATEWAY_TOKEN"  # noqa: S105 - the variable's name, not a token
CHANNEL_ID = re.compile(r"^[!-~]{1,64}$")
LIMIT_KEYS = frozenset(f.name for f in dataclasses.fields(ChannelLimits))
# Kinds the server knows by another name (its channel kinds are modem, smsgate, envaya, smssync): the name
# picks the default limits, so an SMSGate phone in private-server mode gets Android's limit like any phone.
LINK_KINDS = {"smsgate-private": "smsgate"}
_TOP_KEYS = frozenset(
    {
        "server",
        "token",
        "token_file",
        "spool",
        "region",
        "timezone",
        "purge_after_days",
        "link",
        "dispatch",
        "health",
        "channels",
    }
)


class ConfigError(ValueError):
    pass


@dataclass(frozen=True)
class ChannelConfig:
    id: str
    kind: str
    limits: ChannelLimits
    options: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class HealthSettings:
    interval_s: float = 30.0
    timeout_s: float = 10.0


@dataclass(frozen=True)
class GatewayConfig:
    link: LinkSettings
    spool: Path
    channels: tuple[ChannelConfig, ...]
    dispatch: DispatchSettings = field(default_factory=DispatchSettings)
    health: HealthSettings = field(default_factory=HealthSettings)
    region: str = "MX"
    purge_after_s: float = 7 * 86400.0


def default_spool() -> Path:
    return Path(platformdirs.user_data_dir("recado")) / "gateway.sqlite3"


def modem_channel(spec: str) -> ChannelConfig:
    """``--modem PATH`` or ``--modem ID=PATH``; without an id the channel is named after the port, so it keeps
    its name (and its contacts) whatever order the flags come in."""
    name, sep, path = spec.partition("=")
    if not sep:
        name, path = "", spec
    if not path:
        raise ConfigError(f"--modem {spec!r}: no port path")
    if not name:
        name = re.sub(r"[^!-~]", "_", Path(path).name)[-64:] or "modem"
    return ChannelConfig(id=name, kind="modem", limits=ChannelLimits(), options={"port": path})


def load_config(
    config_file: Path | None = None,
    *,
    server: str | None = None,
    token: str | None = None,
    modems: Sequence[str] = (),
    spool: Path | None = None,
    environ: Mapping[str, str] | None = None,
) -> GatewayConfig:
    env = os.environ if environ is None else environ
    data: dict[str, Any] = {}
    if config_file is not None:
        try:
            data = tomllib.loads(config_file.read_text(encoding="utf-8"))
        except OSError as error:
            raise ConfigError(f"cannot read {config_file}: {error.strerror or error}") from error
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as error:
            raise ConfigError(f"{config_file} is not valid TOML: {error}") from error
    _refuse_unknown(data, _TOP_KEYS, "")

    server_url = server or _string(data, "server", None)
    if not server_url:
        raise ConfigError("no server: give --server URL or `server` in the configuration file")
    parts = urlsplit(server_url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(f"server {server_url!r} is not an http:// or https:// URL")

    secret = (
        token or _token_from_file(data, config_file) or _string(data, "token", None) or env.get(TOKEN_ENV)
    )
    if not secret:
        raise ConfigError(f"no token: give --token, `token_file` in the configuration file, or {TOKEN_ENV}")

    link = _settings(LinkSettings, data.get("link", {}), "link", server=server_url, token=secret.strip())
    if link.batch < 1 or link.batch > 500:
        raise ConfigError("link.batch must be between 1 and 500")
    if link.backoff_min_s <= 0 or link.backoff_max_s < link.backoff_min_s:
        raise ConfigError("link.backoff_min_s must be > 0 and not above link.backoff_max_s")
    timezone = _string(data, "timezone", "America/Mexico_City")
    try:
        ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError) as error:
        raise ConfigError(f"timezone {timezone!r} is not a known time zone") from error
    dispatch = _settings(DispatchSettings, data.get("dispatch", {}), "dispatch", timezone=timezone)
    health = _settings(HealthSettings, data.get("health", {}), "health")

    channels = [
        _channel(entry, index) for index, entry in enumerate(_tables(data.get("channels", []), "channels"))
    ]
    channels += [_checked(modem_channel(spec)) for spec in modems]
    seen: set[str] = set()
    for channel in channels:
        if channel.id in seen:
            raise ConfigError(f"two channels are named {channel.id!r}")
        seen.add(channel.id)
    if not channels:
        raise ConfigError("no channels: give --modem PATH or [[channels]] in the configuration file")
    if len(channels) > 64:
        raise ConfigError("at most 64 channels per gateway")

    spool_path = spool or (Path(_string(data, "spool", "")) if data.get("spool") else default_spool())
    purge_days = data.get("purge_after_days", 7)
    if not isinstance(purge_days, int | float) or isinstance(purge_days, bool) or purge_days <= 0:
        raise ConfigError("purge_after_days must be a positive number")
    return GatewayConfig(
        link=link,
        spool=spool_path,
        channels=tuple(channels),
        dispatch=dispatch,
        health=health,
        region=_string(data, "region", "MX"),
        purge_after_s=float(purge_days) * 86400.0,
    )


def _token_from_file(data: Mapping[str, Any], config_file: Path | None) -> str | None:
    name = data.get("token_file")
    if name is None:
        return None
    if not isinstance(name, str):
        raise ConfigError("token_file must be a path")
    path = Path(name)
    if not path.is_absolute() and config_file is not None:
        path = config_file.parent / path
    try:
        return path.read_text(encoding="utf-8").strip() or None
    except OSError as error:
        raise ConfigError(f"cannot read token_file {path}: {error.strerror or error}") from error


def _string(data: Mapping[str, Any], key: str, default: str | None) -> Any:
    value = data.get(key, default)
    if value is not None and not isinstance(value, str):
        raise ConfigError(f"{key} must be a string")
    return value


def _tables(value: Any, where: str) -> list[dict[str, Any]]:
    if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
        raise ConfigError(f"{where} must be a list of tables ([[{where}]])")
    return value


def _refuse_unknown(data: Mapping[str, Any], known: frozenset[str], where: str) -> None:
    unknown = sorted(set(data) - known)
    if unknown:
        raise ConfigError(f"unknown key(s) {', '.join(where + k for k in unknown)}")


def _settings(cls: Any, table: Any, where: str, **fixed: Any) -> Any:
    if not isinstance(table, dict):
        raise ConfigError(f"[{where}] must be a table")
    fields = {f.name: f for f in dataclasses.fields(cls)}
    _refuse_unknown(table, frozenset(fields) - set(fixed), f"{where}.")
    values: dict[str, Any] = dict(fixed)
    for key, value in table.items():
        default = fields[key].default
        values[key] = _number(
            value, f"{where}.{key}", integer=isinstance(default, int) and not isinstance(default, bool)
        )
    return cls(**values)


def _number(value: Any, where: str, *, integer: bool) -> float | int:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ConfigError(f"{where} must be a number")
    if integer and not isinstance(value, int):
        raise ConfigError(f"{where} must be a whole number")
    if value < 0:
        raise ConfigError(f"{where} must not be negative")
    return value


def _channel(entry: dict[str, Any], index: int) -> ChannelConfig:
    where = f"channels[{index}]"
    name, kind = entry.get("id"), entry.get("kind")
    if not isinstance(name, str) or not isinstance(kind, str):
        raise ConfigError(f"{where} needs an id and a kind")
    limits: dict[str, Any] = {}
    options: dict[str, Any] = {}
    for key, value in entry.items():
        if key in ("id", "kind"):
            continue
        if key in LIMIT_KEYS:
            limits[key] = _number(
                value, f"{where}.{key}", integer=key in ("burst", "daily_cap", "window_max")
            )
        else:
            options[key] = value
    link_kind = str(options.get("link_kind", LINK_KINDS.get(kind, kind)))
    defaults = ChannelLimits.default_for(link_kind)
    return _checked(ChannelConfig(name, kind, dataclasses.replace(defaults, **limits), options))


def _checked(channel: ChannelConfig) -> ChannelConfig:
    if not CHANNEL_ID.fullmatch(channel.id):
        raise ConfigError(f"channel id {channel.id!r} must be 1-64 printable characters without spaces")
    return channel
