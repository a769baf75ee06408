"""Fixtures for the runner: a runner on the parametrised backend with the fixed clock, and the programme."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from server.clock import FixedClock
from server.config import Config
from server.runner import Runner
from server.wakeup import Wakeup
from tests.server.runner import kit


@pytest.fixture
def runner_config(tmp_path: Path) -> Config:
    return Config(data_dir=tmp_path, webhook_timeout_seconds=2).validate()


@pytest.fixture
async def runner(engine: AsyncEngine, runner_config: Config, clock: FixedClock) -> AsyncIterator[Runner]:
    runner = Runner(engine, runner_config, clock, outbox_wake=Wakeup(), webhooks_in_background=False)
    yield runner
    await runner.close()


@pytest.fixture
async def loaded(engine: AsyncEngine, clock: FixedClock) -> None:
    await kit.load(engine, kit.programme(), clock.now())
