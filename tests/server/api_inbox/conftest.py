"""The app without its runner and dispatcher: the tests write inbox items and gateway reports themselves."""

from __future__ import annotations

import dataclasses

import pytest

from server.config import Config


@pytest.fixture
def config(config: Config) -> Config:
    return dataclasses.replace(config, runner_enabled=False)
