"""Contacts changed through the API or a CSV import are scheduled in their campaigns at once."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from aiohttp.test_utils import TestClient

from server.appkeys import DB
from server.clock import FixedClock
from server.db.schema import contacts
from tests.conftest import TokenFactory, auth
from tests.server.campaigns import kit


async def _setup(client: TestClient, make_token: TokenFactory, clock: FixedClock) -> dict[str, str]:
    await kit.load(client.app[DB], kit.programme(), clock.now())
    return auth(await make_token("api", ["contacts:read", "contacts:write"], name="central"))


async def _contact_id(client: TestClient, phone: str) -> int:
    async with client.app[DB].connect() as conn:
        return int(
            (await conn.execute(sa.select(contacts.c.id).where(contacts.c.phone == phone))).scalar_one()
        )


async def _group_uuid(client: TestClient, headers: dict[str, str]) -> str:
    resp = await client.get("/api/v1/groups", headers=headers)
    groups: list[dict[str, Any]] = (await resp.json())["items"]
    return next(g["uuid"] for g in groups if g["name"] == "Embarazadas")


async def test_a_contact_added_to_the_group_over_the_api_is_enrolled_and_leaving_unenrols(
    client: TestClient, make_token: TokenFactory, clock: FixedClock
) -> None:
    headers = await _setup(client, make_token, clock)
    created = await client.post(
        "/api/v1/contacts",
        json={"phone": "+52 55 1234 5678", "name": "Ana", "fields": {kit.FECHA: "2027-06-01"}},
        headers=headers,
    )
    assert created.status == 201, await created.text()
    ana = await _contact_id(client, "+525512345678")
    assert await kit.row_of(client.app[DB], ana) is None  # not in the campaign's group yet

    group = await _group_uuid(client, headers)
    members = {"contacts": [(await created.json())["uuid"]]}
    added = await client.post(f"/api/v1/groups/{group}/members", json=members, headers=headers)
    assert added.status == 200, await added.text()
    assert await kit.row_of(client.app[DB], ana) == (kit.W36, kit.local(2027, 5, 4, 9).astimezone(kit.UTC))

    moved = await client.patch(
        f"/api/v1/contacts/{(await created.json())['uuid']}",
        json={"fields": {kit.FECHA: "2027-07-01"}},
        headers=headers,
    )
    assert moved.status == 200, await moved.text()
    assert await kit.row_of(client.app[DB], ana) == (kit.W36, kit.local(2027, 6, 3, 9).astimezone(kit.UTC))

    removed = await client.post(f"/api/v1/groups/{group}/members/remove", json=members, headers=headers)
    assert removed.status == 200, await removed.text()
    assert await kit.row_of(client.app[DB], ana) is None


async def test_an_import_enrols_the_contacts_it_puts_in_the_group(
    client: TestClient, make_token: TokenFactory, clock: FixedClock
) -> None:
    headers = await _setup(client, make_token, clock)
    data = (
        "Teléfono,Nombre,FPP,Grupo\n55 1234 5678,Ana,01/06/2027,Embarazadas\n33 1234 5678,Bety,,\n".encode()
    )
    resp = await client.post(
        "/api/v1/contacts/import",
        data=data,
        params=[("map", f"FPP=field:{kit.FECHA}:date"), ("map", "Grupo=group")],
        headers={**headers, "Content-Type": "text/csv"},
    )
    assert resp.status == 200, await resp.text()
    ana = await _contact_id(client, "+525512345678")
    bety = await _contact_id(client, "+523312345678")
    assert await kit.row_of(client.app[DB], ana) == (kit.W36, kit.local(2027, 5, 4, 9).astimezone(kit.UTC))
    assert await kit.row_of(client.app[DB], bety) is None
