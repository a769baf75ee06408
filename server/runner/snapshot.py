"""The stored programme, read once per revision and shared by every turn until a load changes it."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncConnection

from flows.contact import Assets
from flows.model import Campaign, Flow, FlowRef, Trigger
from server.programmes import StoredProgramme, read_programme, read_revision


@dataclass(frozen=True)
class Snapshot:
    revision: int
    assets: Assets
    languages: tuple[str, ...]
    declared_groups: Mapping[str, str]  # group name → the uuid the flows use for it
    group_names: Mapping[str, str]  # that uuid → name
    keyword_triggers: tuple[Trigger, ...]
    catch_all_triggers: tuple[Trigger, ...]
    campaigns: tuple[Campaign, ...] = ()  # for keeping contacts' campaign rows up to date, and firing them

    def flow(self, ref: FlowRef) -> Flow | None:
        return self.assets.flow(ref.uuid, ref.name)

    def flow_named(self, name: str) -> Flow | None:
        return self.assets.flow("", name) if name else None


def build_snapshot(stored: StoredProgramme, default_language: str) -> Snapshot:
    programme = stored.programme
    return Snapshot(
        revision=stored.revision,
        assets=Assets.from_programme(programme),
        languages=programme.languages or (default_language,),
        declared_groups={group.name: group.uuid for group in programme.groups},
        group_names={group.uuid: group.name for group in programme.groups},
        keyword_triggers=tuple(t for t in programme.triggers if t.kind == "keyword"),
        catch_all_triggers=tuple(t for t in programme.triggers if t.kind == "catch_all"),
        campaigns=programme.campaigns,
    )


class SnapshotCache:
    """Checks the stored revision on every turn (one primary-key read) and reloads only when it moved."""

    def __init__(self, default_language: str) -> None:
        self._default_language = default_language
        self._current: Snapshot | None = None
        self._reload = asyncio.Lock()

    async def get(self, conn: AsyncConnection) -> Snapshot:
        revision = await read_revision(conn)
        current = self._current
        if current is not None and current.revision == revision:
            return current
        async with self._reload:
            current = self._current
            if current is None or current.revision != revision:
                current = build_snapshot(await read_programme(conn), self._default_language)
                self._current = current
            return current
