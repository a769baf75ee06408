"""Fixtures for campaigns: a runner on the parametrised backend with the fixed clock (09:00 in Mexico City),
and the campaign programme loaded."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from server.clock import FixedClock
from server.config import Config
from server.runner import Runner
from server.wakeup import Wakeup
from tests.server.campaigns import kit


@pytest.fixture
def runner_config(tmp_path: Path) -> Config:
    return Config(data_dir=tmp_path, programme_timezone=kit.TZ).validate()


@pytest.fixture
async def runner(engine: AsyncEngine, runner_config: Config, clock: FixedClock) -> AsyncIterator[Runner]:
    runner = Runner(engine, runner_config, clock, outbox_wake=Wakeup(), webhooks_in_background=False)
    yield runner
    await runner.close()


@pytest.fixture
async def loaded(engine: AsyncEngine, clock: FixedClock) -> None:
    await kit.load(engine, kit.programme(), clock.now())
