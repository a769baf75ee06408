"""The gateway process: spool, channels, dispatcher, health and link put together, and ``recado gateway``.

Start order keeps the spool's promises: the spool opens first (settling sends a crash interrupted), the
dispatcher resumes what the spool holds, transports start receiving (each SMS committed before the radio
forgets it), then health and the link. Stopping lets sends already with a radio finish for a while
(``STOP_GRACE_S``); one that does not is found ``sending`` at the next start and reported ``unknown``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import sqlite3
import time
from collections.abc import Callable, Mapping
from pathlib import Path

import click

from gateway.config import ConfigError, GatewayConfig, load_config
from gateway.dispatcher import ChannelLimits, Dispatcher
from gateway.health import HealthMonitor
from gateway.link import LinkClient
from gateway.spool import Spool, SpoolError
from gateway.transports import base as transports
from gateway.transports.base import InboundSMS, StatusReport, Transport

log = logging.getLogger(__name__)

STOP_GRACE_S = 10.0
PURGE_EVERY_S = 3600.0


class Gateway:
    def __init__(
        self,
        config: GatewayConfig,
        *,
        transports_by_id: Mapping[str, Transport] | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.config = config
        self._clock = clock
        self.transports: dict[str, Transport] = dict(transports_by_id or build_transports(config))
        self.spool: Spool | None = None
        self.dispatcher: Dispatcher | None = None
        self.health: HealthMonitor | None = None
        self.link: LinkClient | None = None
        self._started: list[Transport] = []
        self._purger: asyncio.Task[None] | None = None
        self._stopped = False

    async def start(self) -> None:
        self.spool = await Spool.open(self.config.spool, clock=self._clock, region=self.config.region)
        limits = {c.id: c.limits for c in self.config.channels}
        self.dispatcher = Dispatcher(
            self.spool,
            {
                name: (transport, limits.get(name) or _default_limits(transport))
                for name, transport in self.transports.items()
            },
            self.config.dispatch,
            clock=self._clock,
            on_status=self._wake_link,
        )
        self.health = HealthMonitor(
            self.dispatcher, interval_s=self.config.health.interval_s, timeout_s=self.config.health.timeout_s
        )
        self.link = LinkClient(self.config.link, self.spool, self.dispatcher, self.health, clock=self._clock)
        await self.dispatcher.start()
        for transport in self.transports.values():
            try:
                await transport.start(self)
            except Exception:
                log.exception("%s: could not start; it is reported unhealthy", transport.id)
                continue
            self._started.append(transport)
        await self.health.start()
        await self.link.start()
        self._purger = asyncio.create_task(self._purge(), name="spool-purge")
        counts = await self.spool.counts()
        log.info(
            "gateway up: %d channel(s), %d inbound and %d statuses waiting for the server, outbound %s",
            len(self.transports),
            counts["inbound_pending"],
            counts["statuses_pending"],
            counts["outbound"],
        )

    async def stop(self) -> None:
        if self._stopped:
            return
        self._stopped = True
        if self._purger is not None:
            self._purger.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._purger
        if self.link is not None:
            await self.link.stop()
        if self.dispatcher is not None:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(STOP_GRACE_S):
                    await self.dispatcher.stop()
        if self.health is not None:
            await self.health.stop()
        for transport in self._started:
            try:
                await transport.stop()
            except Exception:
                log.exception("%s: did not stop cleanly", transport.id)
        self._started = []
        if self.spool is not None:
            await self.spool.close()

    # --- what transports call (TransportSink) -----------------------------------------------------------

    async def on_inbound(self, channel: str, sms: InboundSMS) -> None:
        assert self.spool is not None
        if await self.spool.add_inbound(channel, sms):
            self._wake_link()
        else:
            log.info("%s: SMS %s was already spooled", channel, sms.identity)

    async def on_status(self, channel: str, report: StatusReport) -> None:
        assert self.spool is not None
        if await self.spool.add_report(channel, report.message_id, report.status, report.at, report.error):
            self._wake_link()
        else:
            log.info(
                "%s: a %s report for %s, which this gateway never had",
                channel,
                report.status,
                report.message_id,
            )

    def _wake_link(self) -> None:
        if self.link is not None:
            self.link.wake()

    async def _purge(self) -> None:
        assert self.spool is not None
        while True:
            try:
                await self.spool.purge(self.config.purge_after_s)
            except Exception:
                log.exception("spool housekeeping failed")
            await asyncio.sleep(PURGE_EVERY_S)


def _default_limits(transport: Transport) -> ChannelLimits:
    return ChannelLimits.default_for(getattr(transport, "link_kind", transport.kind))


def build_transports(config: GatewayConfig) -> dict[str, Transport]:
    return {c.id: transports.create(c.kind, c.id, c.options) for c in config.channels}


async def run(config: GatewayConfig, built: Mapping[str, Transport]) -> None:
    gateway = Gateway(config, transports_by_id=built)
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stopping.set)
    await gateway.start()
    try:
        await stopping.wait()
        log.info("stopping the gateway")
    finally:
        await gateway.stop()


@click.command("gateway")
@click.option(
    "--config",
    "config_file",
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    default=None,
    help="gateway.toml: channels, limits and tuning (not needed with --server, --token and --modem).",
)
@click.option("--server", default=None, help="The recado server's URL, e.g. http://10.0.0.2:8080.")
@click.option("--token", default=None, help="The gateway token (`recado token create --role gateway`).")
@click.option("--modem", "modems", multiple=True, help="A modem's port, or ID=PORT (repeatable).")
@click.option(
    "--spool", type=click.Path(dir_okay=False, path_type=Path), default=None, help="The spool file."
)
def gateway_command(
    config_file: Path | None,
    server: str | None,
    token: str | None,
    modems: tuple[str, ...],
    spool: Path | None,
) -> None:
    """Run the gateway: own the modems and phones, spool durably, and sync with the server."""
    try:
        config = load_config(config_file, server=server, token=token, modems=modems, spool=spool)
        built = build_transports(config)
    except (ConfigError, transports.TransportError) as error:
        raise click.UsageError(str(error)) from error
    click.echo(f"recado gateway: {len(built)} channel(s), spool {config.spool}, server {config.link.server}")
    try:
        asyncio.run(run(config, built))
    except (SpoolError, sqlite3.Error, OSError) as error:
        raise click.ClickException(f"spool {config.spool}: {error}") from error
