"""SMSGate in private-server mode (kind ``smsgate-private``): the phone dials in to the gateway over HTTPS,
for phones that are not on the site's network (``reference/android-apps.md`` §2.3; the API it calls is
:mod:`.smsgate_private_api`).

Each SIM of a phone is its own channel (``sim = 1`` or ``2``); the channels of one phone (same ``phone``
name) share one endpoint, one registration and one event stream. A channel is an app that dials in like
EnvayaSMS and SMSSync (:mod:`.dialin`): ``send`` wakes the phone over its event stream and waits for the
phone to fetch the message; the phone is healthy while it keeps calling (its polls, its ``system:ping``
webhooks every ``ping_interval_s``), and a quiet one gets nothing, so the dispatcher moves the work to
another channel. A message the phone fetched is its own and never goes anywhere else.

HTTPS: the certificate is made by :mod:`gateway.tls` from a local CA installed on the phone (``recado phone
pair --app smsgate-cloud`` makes both and says how), or the technician's own ``tls_cert``/``tls_key``.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from flows import sms as sms_facts
from gateway.android_bridge import phones as phone_book
from gateway.android_bridge.dialin import DialInChannel, DialInSettings, dial_in_settings
from gateway.android_bridge.shared_phones import SharedPhones
from gateway.android_bridge.smsgate_private_api import PrivatePhone, PrivateSettings, default_path
from gateway.android_bridge.smsgate_private_device import default_state_dir
from gateway.transports.base import (
    ChannelHealth,
    OutboundSMS,
    SendOutcome,
    TransportError,
    TransportSink,
    register,
)

PHONE_APP = "smsgate-cloud"  # the phone book's name for the app in this mode


class SmsGatePrivateTransport(DialInChannel):
    kind = "smsgate-private"
    link_kind = "smsgate"

    def __init__(
        self,
        channel_id: str,
        dial_in: DialInSettings,
        private: PrivateSettings,
        *,
        sim: int | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        super().__init__(channel_id, dial_in, clock=clock)
        self.private = private
        self.sim = sim
        self.phone: PrivatePhone | None = None

    @property
    def url(self) -> str:
        assert self.phone is not None, "not started"
        return self.phone.url

    async def start(self, sink: TransportSink) -> None:
        self._sink = sink
        self.phone = await _attach(self)

    async def stop(self) -> None:
        if self.phone is not None:
            await _detach(self)
            self.phone = None
        await super().stop()  # writes the phone's last call down

    async def send(self, message: OutboundSMS) -> SendOutcome:
        if self.phone is None:
            return SendOutcome(
                "failed", sms_facts.size(message.text).segments, error="not started", retryable=True
            )
        # Woken once the message waits: the phone's fetch then finds it (the event is only queued here).
        asyncio.get_running_loop().call_soon(self.phone.notify, "MessageEnqueued")
        return await super().send(message)

    async def health(self) -> ChannelHealth:
        phone = self.phone
        if phone is None:
            return ChannelHealth(healthy=False, detail="not started")
        registration = phone.registration
        if registration is None:
            return ChannelHealth(
                healthy=False,
                detail="the phone has not registered: enter the API URL and private token in the app",
            )
        health = await super().health()
        if not health.healthy:
            return health
        if self.sim is not None and registration.sims and self.sim not in registration.sims:
            return ChannelHealth(
                healthy=False, battery=health.battery, detail=f"SIM {self.sim} is not in the phone"
            )
        if registration.push_token:
            return ChannelHealth(
                healthy=True,
                battery=health.battery,
                detail="the app uses push notifications: set it to SSE only, or messages wait for its polls",
            )
        return health


_phones: SharedPhones[tuple[str, str], PrivatePhone] = SharedPhones()


async def _attach(channel: SmsGatePrivateTransport) -> PrivatePhone:
    """The channels of one phone share its endpoint; they must agree on how it is reached."""

    def make() -> PrivatePhone:
        phone = PrivatePhone(channel.private, clock=channel._clock)
        phone.channels[channel.sim] = channel
        return phone

    def join(phone: PrivatePhone) -> None:
        if phone.settings != channel.private:
            raise TransportError(
                f"channel {channel.id!r}: the channels of phone {channel.private.phone!r} disagree on its settings"
            )
        if channel.sim in phone.channels:
            raise TransportError(
                f"channel {channel.id!r}: SIM {channel.sim} of phone {channel.private.phone!r} already has a channel"
            )

    phone = await _phones.attach((channel.private.listen, channel.private.path), make, join)
    phone.adopt(channel)
    return phone


async def _detach(channel: SmsGatePrivateTransport) -> None:
    await _phones.detach((channel.private.listen, channel.private.path), channel.sim)


# --- configuration ---------------------------------------------------------------------------------------

_KNOWN = {
    "listen",
    "path",
    "url",
    "phone",
    "phones_file",
    "private_token",
    "private_token_file",
    "sim",
    "tls_dir",
    "tls_cert",
    "tls_key",
    "state_dir",
    "quiet_after_s",
    "pickup_timeout_s",
    "ping_interval_s",
    "link_kind",
}


def settings_from(
    channel_id: str, options: Mapping[str, Any]
) -> tuple[DialInSettings, PrivateSettings, int | None]:
    where = f"channel {channel_id!r}"
    unknown = sorted(set(options) - _KNOWN)
    if unknown:
        raise TransportError(f"{where}: unknown smsgate-private option(s) {', '.join(unknown)}")
    if options.get("link_kind", "smsgate") != "smsgate":
        raise TransportError(f"{where}: an smsgate-private channel is reported to the server as smsgate")
    phone = options.get("phone")
    if not isinstance(phone, str) or not phone:
        raise TransportError(f"{where}: needs `phone` (the name it was paired with: recado phone pair)")
    book = Path(str(options.get("phones_file") or phone_book.default_path()))
    if "private_token" not in options and "private_token_file" not in options:
        try:
            paired = phone_book.find(book, phone)
        except phone_book.PhoneBookError as error:
            raise TransportError(f"{where}: {error}") from error
        if paired.app != PHONE_APP:
            raise TransportError(f"{where}: phone {phone!r} is not paired for SMSGate private-server mode")
        token_options: Mapping[str, Any] = options
    else:
        token_options = {k: v for k, v in options.items() if k != "phone"}  # the token is given, not paired
    dial_in = dial_in_settings(
        channel_id,
        token_options,
        secret_named="private_token",  # noqa: S106 - the option's name
        default_path=default_path(phone),
    )
    sim = options.get("sim")
    if sim is not None and (isinstance(sim, bool) or not isinstance(sim, int) or not 1 <= sim <= 8):
        raise TransportError(f"{where}: sim must be the SIM's number, 1 or 2")
    ping = options.get("ping_interval_s", 60)
    if isinstance(ping, bool) or not isinstance(ping, int) or not 15 <= ping <= 3600:
        raise TransportError(f"{where}: ping_interval_s must be a whole number of seconds from 15 to 3600")
    paths: dict[str, Path] = {}
    for key in ("tls_dir", "tls_cert", "tls_key", "state_dir"):
        if key in options:
            if not isinstance(options[key], str) or not options[key]:
                raise TransportError(f"{where}: {key} must be a path")
            paths[key] = Path(options[key])
    if ("tls_cert" in paths) != ("tls_key" in paths):
        raise TransportError(
            f"{where}: give both `tls_cert` and `tls_key`, or neither (the local CA's are used)"
        )
    url = dial_in.url
    if url is not None and not url.startswith("https://"):
        raise TransportError(f"{where}: `url` must be https:// (the app refuses plain HTTP)")
    private = PrivateSettings(
        listen=dial_in.listen,
        phone=phone,
        path=dial_in.path,
        url=url,
        private_token=dial_in.secret,
        state_dir=paths.get("state_dir", default_state_dir(book)),
        tls_dir=paths.get("tls_dir", book.parent / "tls"),
        tls_cert=paths.get("tls_cert"),
        tls_key=paths.get("tls_key"),
        ping_interval_s=ping,
    )
    return dial_in, private, sim


def _factory(channel_id: str, options: Mapping[str, Any]) -> SmsGatePrivateTransport:
    dial_in, private, sim = settings_from(channel_id, options)
    return SmsGatePrivateTransport(channel_id, dial_in, private, sim=sim)


register("smsgate-private", _factory)
