"""The contacts, fields and groups API on the real app over a real socket, with a real SQLite file."""

from __future__ import annotations

import io
import uuid
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from aiohttp.test_utils import TestClient

from server.auth.keys import ensure_keyring
from server.config import Config
from server.db.engine import create_engine
from server.db.schema import audit_log
from tests.conftest import TokenFactory, auth

MAX_IMPORT_BYTES = 2 * 1024 * 1024  # above the JSON limit (1 MiB), to show the import route has its own
ANA = {"phone": "+52 55 1234 5678", "name": "Ana", "language": "spa", "fields": {"due_date": "01/03/2027"}}


@pytest.fixture
def config(tmp_path: Path, sqlite_url: str) -> Config:
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    ensure_keyring(data_dir / "keys")
    return Config(data_dir=data_dir, database_url=sqlite_url, max_import_bytes=MAX_IMPORT_BYTES).validate()


@pytest.fixture
async def writer(make_token: TokenFactory) -> dict[str, str]:
    return auth(await make_token("api", ["contacts:write"], name="central"))


@pytest.fixture
async def reader(make_token: TokenFactory) -> dict[str, str]:
    return auth(await make_token("api", ["contacts:read"], name="tablero"))


@pytest.fixture
async def due_date(client: TestClient, writer: dict[str, str]) -> dict[str, Any]:
    body = {"key": "due_date", "label": "Fecha probable de parto", "value_type": "date"}
    return await ok(await client.post("/api/v1/fields", json=body, headers=writer), 201)


async def ok(resp: Any, status: int = 200) -> Any:
    assert resp.status == status, await resp.text()
    return await resp.json()


async def error(resp: Any, status: int) -> dict[str, Any]:
    assert resp.status == status, await resp.text()
    body = await resp.json()
    assert set(body) == {"error"}
    result: dict[str, Any] = body["error"]
    return result


async def create(client: TestClient, headers: dict[str, str], **body: Any) -> dict[str, Any]:
    result: dict[str, Any] = await ok(await client.post("/api/v1/contacts", json=body, headers=headers), 201)
    return result


async def audit(config: Config) -> list[Any]:
    engine = create_engine(config.effective_database_url)
    try:
        async with engine.connect() as conn:
            return list((await conn.execute(sa.select(audit_log).order_by(audit_log.c.id))).all())
    finally:
        await engine.dispose()


# --- the contract others rely on ---------------------------------------------------------------------------


async def test_create_then_find_by_phone(
    client: TestClient, writer: dict[str, str], due_date: dict[str, Any]
) -> None:
    resp = await client.post("/api/v1/contacts", json=ANA, headers=writer)
    created = await ok(resp, 201)
    assert created["phone"] == "+525512345678"
    assert (created["name"], created["language"], created["status"]) == ("Ana", "spa", "active")
    assert created["fields"] == {"due_date": "2027-03-01"}
    assert created["groups"] == []
    assert resp.headers["Location"] == f"/api/v1/contacts/{created['uuid']}"
    for written in ("+52 55 1234 5678", "5512345678", "+5215512345678"):
        page = await ok(await client.get("/api/v1/contacts", params={"phone": written}, headers=writer))
        assert [c["uuid"] for c in page["items"]] == [created["uuid"]]
        assert page["next_cursor"] is None
    assert await ok(await client.get(f"/api/v1/contacts/{created['uuid']}", headers=writer)) == created


async def test_an_unencoded_plus_in_the_query_still_finds_her(
    client: TestClient, writer: dict[str, str]
) -> None:
    ana = await create(client, writer, phone="5512345678")
    for query in ("phone=+525512345678", "urn=tel:+525512345678", "phone=%2B52%2055%201234%205678"):
        page = await ok(await client.get(f"/api/v1/contacts?{query}", headers=writer))
        assert [c["uuid"] for c in page["items"]] == [ana["uuid"]], query


# --- scopes ------------------------------------------------------------------------------------------------


async def test_reading_needs_contacts_read_and_writing_contacts_write(
    client: TestClient, reader: dict[str, str], make_token: TokenFactory
) -> None:
    assert (await client.get("/api/v1/contacts", headers=reader)).status == 200
    assert (await client.get("/api/v1/groups", headers=reader)).status == 200
    for method, path in (
        ("POST", "/api/v1/contacts"),
        ("POST", "/api/v1/fields"),
        ("POST", "/api/v1/groups"),
        ("POST", "/api/v1/contacts/import"),
    ):
        await error(await client.request(method, path, json={}, headers=reader), 403)
    messages_only = auth(await make_token("api", ["messages:write"], name="otro"))
    for path in ("/api/v1/contacts", "/api/v1/fields", "/api/v1/groups"):
        await error(await client.get(path, headers=messages_only), 403)
        await error(await client.get(path), 401)
    gateway = auth(await make_token("gateway", name="oaxaca"))
    await error(await client.get("/api/v1/contacts", headers=gateway), 403)


# --- bad input ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("raw", [b'{"phone": "5512345678",', b"{'phone': '5512345678'}", b"\xff\xfe", b""])
async def test_malformed_json_is_400(client: TestClient, writer: dict[str, str], raw: bytes) -> None:
    resp = await client.post(
        "/api/v1/contacts", data=raw, headers={**writer, "Content-Type": "application/json"}
    )
    await error(resp, 400)


async def test_unknown_and_ill_typed_keys_are_422_naming_them(
    client: TestClient, writer: dict[str, str]
) -> None:
    err = await error(
        await client.post(
            "/api/v1/contacts", json={"phone": "5512345678", "email": "a@b.mx"}, headers=writer
        ),
        422,
    )
    assert err["details"] == [{"field": "email", "message": "unknown field"}]
    for key, value in (("name", 7), ("language", ["spa"]), ("status", "deleted"), ("fields", "due_date")):
        body = {"phone": "5512345678", key: value}
        err = await error(await client.post("/api/v1/contacts", json=body, headers=writer), 422)
        assert [d["field"] for d in err["details"]] == [key], err
    err = await error(await client.post("/api/v1/contacts", json={"name": "Ana"}, headers=writer), 422)
    assert err["details"] == [{"field": "phone", "message": "is required"}]


async def test_an_unknown_field_key_is_422_naming_it(
    client: TestClient, writer: dict[str, str], due_date: dict[str, Any]
) -> None:
    body = {"phone": "5512345678", "fields": {"due_date": "2027-03-01", "fpp": "2027-03-01"}}
    err = await error(await client.post("/api/v1/contacts", json=body, headers=writer), 422)
    assert [d["field"] for d in err["details"]] == ["fields.fpp"]
    assert "fields.fpp" in err["message"]
    assert (await ok(await client.get("/api/v1/contacts", headers=writer)))["items"] == []


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("31/02/2027", "is not a date in the calendar"),
        ("next week", "must be a date written 2027-03-01 or 01/03/2027 (day first)"),
        (20270301, "must be a date written as text"),
    ],
)
async def test_a_bad_field_value_is_422_with_the_reason(
    client: TestClient, writer: dict[str, str], due_date: dict[str, Any], value: Any, message: str
) -> None:
    body = {"phone": "5512345678", "fields": {"due_date": value}}
    err = await error(await client.post("/api/v1/contacts", json=body, headers=writer), 422)
    assert err["details"] == [{"field": "fields.due_date", "message": message}]


@pytest.mark.parametrize(
    ("phone", "reason"),
    [
        ("12345", "is too short for a number in +52 (MX)"),
        ("+52 1234567890", "is not a number in use in +52 (MX)"),
        ("call me", "is not a phone number"),
        ("55 1234 5678 ext 2", "has an extension; SMS cannot reach an extension"),
    ],
)
async def test_an_invalid_phone_is_422_with_the_reason(
    client: TestClient, writer: dict[str, str], phone: str, reason: str
) -> None:
    err = await error(await client.post("/api/v1/contacts", json={"phone": phone}, headers=writer), 422)
    assert err["details"] == [{"field": "phone", "message": reason}]


async def test_a_duplicate_phone_is_409_naming_the_contact(
    client: TestClient, writer: dict[str, str]
) -> None:
    ana = await create(client, writer, phone="5512345678")
    err = await error(
        await client.post("/api/v1/contacts", json={"phone": "+5215512345678"}, headers=writer), 409
    )
    assert err["details"] == {"uuid": ana["uuid"]}
    assert "5512345678" not in err["message"]


async def test_an_oversized_body_is_413(client: TestClient, writer: dict[str, str], config: Config) -> None:
    raw = b'{"phone": "5512345678", "name": "' + b"a" * config.max_body_bytes + b'"}'
    resp = await client.post(
        "/api/v1/contacts", data=io.BytesIO(raw), headers={**writer, "Content-Type": "application/json"}
    )
    await error(resp, 413)


async def test_sql_looking_strings_are_stored_literally(client: TestClient, writer: dict[str, str]) -> None:
    await ok(
        await client.post(
            "/api/v1/fields", json={"key": "note", "label": "'; DROP TABLE fields;--"}, headers=writer
        ),
        201,
    )
    name = "Robert'); DROP TABLE contacts;--"
    ana = await create(client, writer, phone="5512345678", name=name, fields={"note": "1' OR '1'='1"})
    assert (ana["name"], ana["fields"]["note"]) == (name, "1' OR '1'='1")
    page = await ok(await client.get("/api/v1/contacts", params={"name": "'); DROP"}, headers=writer))
    assert [c["uuid"] for c in page["items"]] == [ana["uuid"]]
    page = await ok(
        await client.get("/api/v1/contacts", params={"field.note": "1' OR '1'='1"}, headers=writer)
    )
    assert [c["uuid"] for c in page["items"]] == [ana["uuid"]]
    nobody = await ok(await client.get("/api/v1/contacts", params={"name": "' OR '1'='1"}, headers=writer))
    assert nobody["items"] == []


@pytest.mark.parametrize("name", ["Ana\x00", "\ud83d", "\x1b[2J"])
async def test_unstorable_characters_are_422(client: TestClient, writer: dict[str, str], name: str) -> None:
    err = await error(
        await client.post("/api/v1/contacts", json={"phone": "5512345678", "name": name}, headers=writer), 422
    )
    assert err["details"] == [{"field": "name", "message": "contains control characters"}]


# --- read, change, delete ----------------------------------------------------------------------------------


async def test_unknown_contacts_are_404(client: TestClient, writer: dict[str, str]) -> None:
    for path in (f"/api/v1/contacts/{uuid.uuid4()}", "/api/v1/contacts/not-a-uuid"):
        await error(await client.get(path, headers=writer), 404)
        await error(await client.patch(path, json={"name": "x"}, headers=writer), 404)
        await error(await client.delete(path, headers=writer), 404)


async def test_patch_changes_only_the_keys_given(
    client: TestClient, writer: dict[str, str], due_date: dict[str, Any], config: Config
) -> None:
    ana = await create(client, writer, **ANA)
    path = f"/api/v1/contacts/{ana['uuid']}"
    changed = await ok(
        await client.patch(path, json={"timezone": "America/Merida", "status": "stopped"}, headers=writer)
    )
    assert (changed["name"], changed["language"], changed["fields"]) == ("Ana", "spa", ana["fields"])
    assert (changed["timezone"], changed["status"]) == ("America/Merida", "stopped")
    cleared = await ok(
        await client.patch(path, json={"language": None, "fields": {"due_date": None}}, headers=writer)
    )
    assert (cleared["language"], cleared["fields"], cleared["status"]) == (None, {}, "stopped")
    assert await ok(await client.patch(path, json={}, headers=writer)) == cleared
    (entry,) = await audit(config)
    assert (entry.action, entry.actor, entry.target) == ("contact.status", "token:central", ana["uuid"])
    assert entry.detail == {"from": "active", "to": "stopped"}


async def test_patch_refuses_what_create_refuses(client: TestClient, writer: dict[str, str]) -> None:
    ana = await create(client, writer, phone="5512345678")
    await create(client, writer, phone="3312345678")
    path = f"/api/v1/contacts/{ana['uuid']}"
    await error(await client.patch(path, json={"phone": "33 1234 5678"}, headers=writer), 409)
    await error(await client.patch(path, json={"phone": None}, headers=writer), 422)
    await error(await client.patch(path, json={"status": None}, headers=writer), 422)
    err = await error(
        await client.patch(path, json={"timezone": "Mexico/Nowhere", "uuid": "x"}, headers=writer), 422
    )
    assert [d["field"] for d in err["details"]] == ["uuid"]
    err = await error(await client.patch(path, json={"timezone": "Mexico/Nowhere"}, headers=writer), 422)
    assert err["details"] == [
        {"field": "timezone", "message": "must be an IANA timezone name such as America/Mexico_City"}
    ]


async def test_delete_is_audited_without_the_phone(
    client: TestClient, writer: dict[str, str], config: Config
) -> None:
    ana = await create(client, writer, phone="5512345678")
    resp = await client.delete(f"/api/v1/contacts/{ana['uuid']}", headers=writer)
    assert resp.status == 204
    await error(await client.get(f"/api/v1/contacts/{ana['uuid']}", headers=writer), 404)
    (entry,) = await audit(config)
    assert (entry.action, entry.target, entry.detail) == ("contact.delete", ana["uuid"], None)
    assert "5512345678" not in repr(tuple(entry))


# --- search and pages --------------------------------------------------------------------------------------


async def test_search_and_cursor_pages(
    client: TestClient, writer: dict[str, str], due_date: dict[str, Any]
) -> None:
    made = [
        await create(
            client,
            writer,
            phone=f"55123456{i:02d}",
            name=f"Contacto {i}",
            fields={"due_date": f"0{i % 2 + 1}/03/2027"},
        )
        for i in range(5)
    ]
    group = await ok(await client.post("/api/v1/groups", json={"name": "Piloto"}, headers=writer), 201)
    members = {"contacts": [made[1]["uuid"], made[3]["uuid"]]}
    await ok(await client.post(f"/api/v1/groups/{group['uuid']}/members", json=members, headers=writer))

    async def uuids(**params: Any) -> list[str]:
        page = await ok(await client.get("/api/v1/contacts", params=params, headers=writer))
        return [c["uuid"] for c in page["items"]]

    assert await uuids(group=group["uuid"]) == members["contacts"]
    assert await uuids(group="Piloto") == members["contacts"]
    assert await uuids(**{"field.due_date": "2027-03-01"}) == [
        made[0]["uuid"],
        made[2]["uuid"],
        made[4]["uuid"],
    ]
    assert await uuids(**{"field.due_date": "02/03/2027", "group": "Piloto"}) == members["contacts"]
    assert await uuids(name="CONTACTO 3") == [made[3]["uuid"]]
    assert await uuids(status="stopped") == []

    seen: list[str] = []
    params: dict[str, Any] = {"limit": 2}
    while True:
        page = await ok(await client.get("/api/v1/contacts", params=params, headers=writer))
        seen += [c["uuid"] for c in page["items"]]
        if page["next_cursor"] is None:
            break
        params["cursor"] = page["next_cursor"]
    assert seen == [c["uuid"] for c in made]


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"phon": "5512345678"}, "phon"),
        ({"phone": "12"}, "phone"),
        ({"urn": "mailto:ana@example.org"}, "urn"),
        ({"status": "gone"}, "status"),
        ({"group": "Nadie"}, "group"),
        ({"group": str(uuid.uuid4())}, "group"),
        ({"field.fpp": "2027-03-01"}, "field.fpp"),
        ({"field.due_date": "ayer"}, "field.due_date"),
        ({"limit": "0"}, "limit"),
        ({"limit": "many"}, "limit"),
    ],
)
async def test_bad_search_parameters_are_422_naming_them(
    client: TestClient, writer: dict[str, str], due_date: dict[str, Any], params: dict[str, str], field: str
) -> None:
    err = await error(await client.get("/api/v1/contacts", params=params, headers=writer), 422)
    assert [d["field"] for d in err["details"]] == [field]


async def test_a_forged_cursor_is_400(client: TestClient, writer: dict[str, str]) -> None:
    err = await error(await client.get("/api/v1/contacts", params={"cursor": "'; DROP"}, headers=writer), 400)
    assert err["code"] == "bad_cursor"


# --- fields ------------------------------------------------------------------------------------------------


async def test_fields(
    client: TestClient, writer: dict[str, str], due_date: dict[str, Any], config: Config
) -> None:
    assert due_date["key"] == "due_date"
    assert due_date["value_type"] == "date"
    await error(
        await client.post("/api/v1/fields", json={"key": "due_date", "label": "x"}, headers=writer), 409
    )
    text = await ok(
        await client.post("/api/v1/fields", json={"key": "clinic", "label": "Clínica"}, headers=writer), 201
    )
    assert text["value_type"] == "text"
    page = await ok(await client.get("/api/v1/fields", headers=writer))
    assert [f["key"] for f in page["items"]] == ["due_date", "clinic"]
    renamed = await ok(
        await client.patch("/api/v1/fields/clinic", json={"label": "Centro de salud"}, headers=writer)
    )
    assert renamed["label"] == "Centro de salud"
    assert await ok(await client.get("/api/v1/fields/clinic", headers=writer)) == renamed
    assert (await client.delete("/api/v1/fields/clinic", headers=writer)).status == 204
    await error(await client.get("/api/v1/fields/clinic", headers=writer), 404)
    await error(await client.delete("/api/v1/fields/clinic", headers=writer), 404)
    await error(await client.patch("/api/v1/fields/clinic", json={"label": "x"}, headers=writer), 404)
    assert [e.action for e in await audit(config)] == ["field.delete"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"key": "Due Date", "label": "x"}, "key"),
        ({"key": "name", "label": "Nombre"}, "key"),
        ({"key": "x" * 37, "label": "x"}, "key"),
        ({"key": "weeks", "label": "Semanas", "value_type": "integer"}, "value_type"),
        ({"key": "weeks", "label": "   "}, "label"),
        ({"key": "weeks", "label": "x", "type": "number"}, "type"),
        ({"label": "x"}, "key"),
    ],
)
async def test_bad_fields_are_422_naming_the_problem(
    client: TestClient, writer: dict[str, str], body: dict[str, Any], field: str
) -> None:
    err = await error(await client.post("/api/v1/fields", json=body, headers=writer), 422)
    assert [d["field"] for d in err["details"]] == [field]


# --- groups and membership ---------------------------------------------------------------------------------


async def test_groups_and_membership(client: TestClient, writer: dict[str, str], config: Config) -> None:
    ana = await create(client, writer, phone="5512345678")
    bety = await create(client, writer, phone="3312345678")
    group = await ok(await client.post("/api/v1/groups", json={"name": "Embarazadas"}, headers=writer), 201)
    assert group["members"] == 0
    await error(await client.post("/api/v1/groups", json={"name": "Embarazadas"}, headers=writer), 409)
    members = f"/api/v1/groups/{group['uuid']}/members"
    both = {"contacts": [ana["uuid"], bety["uuid"]]}
    added = await ok(await client.post(members, json=both, headers=writer))
    assert (added["added"], added["group"]["members"]) == (2, 2)
    again = await ok(await client.post(members, json=both, headers=writer))
    assert (again["added"], again["group"]["members"]) == (0, 2)
    contact = await ok(await client.get(f"/api/v1/contacts/{ana['uuid']}", headers=writer))
    assert contact["groups"] == [{"uuid": group["uuid"], "name": "Embarazadas"}]
    removed = await ok(
        await client.post(f"{members}/remove", json={"contacts": [ana["uuid"]]}, headers=writer)
    )
    assert (removed["removed"], removed["group"]["members"]) == (1, 1)
    removed = await ok(
        await client.post(f"{members}/remove", json={"contacts": [ana["uuid"]]}, headers=writer)
    )
    assert removed["removed"] == 0
    renamed = await ok(
        await client.patch(f"/api/v1/groups/{group['uuid']}", json={"name": "Puérperas"}, headers=writer)
    )
    assert renamed["name"] == "Puérperas"
    page = await ok(await client.get("/api/v1/groups", headers=writer))
    assert [g["name"] for g in page["items"]] == ["Puérperas"]
    assert (await client.delete(f"/api/v1/groups/{group['uuid']}", headers=writer)).status == 204
    await error(await client.get(f"/api/v1/groups/{group['uuid']}", headers=writer), 404)
    assert (await ok(await client.get(f"/api/v1/contacts/{bety['uuid']}", headers=writer)))["groups"] == []
    assert [e.action for e in await audit(config)] == ["group.delete"]


async def test_membership_refuses_strangers_and_changes_nothing(
    client: TestClient, writer: dict[str, str]
) -> None:
    ana = await create(client, writer, phone="5512345678")
    group = await ok(await client.post("/api/v1/groups", json={"name": "Piloto"}, headers=writer), 201)
    members = f"/api/v1/groups/{group['uuid']}/members"
    stranger = str(uuid.uuid4())
    err = await error(
        await client.post(members, json={"contacts": [ana["uuid"], stranger]}, headers=writer), 422
    )
    assert err["details"] == [{"field": "contacts", "message": f"no contact {stranger}"}]
    assert (await ok(await client.get(f"/api/v1/groups/{group['uuid']}", headers=writer)))["members"] == 0
    for body in ({"contacts": []}, {"contacts": ["not-a-uuid"]}, {"contacts": [ana["uuid"]], "all": True}):
        await error(await client.post(members, json=body, headers=writer), 422)
    await error(
        await client.post(
            f"/api/v1/groups/{uuid.uuid4()}/members", json={"contacts": [ana["uuid"]]}, headers=writer
        ),
        404,
    )


# --- import ------------------------------------------------------------------------------------------------


async def import_csv(
    client: TestClient, headers: dict[str, str], data: bytes | io.BytesIO, *maps: str, **params: str
) -> Any:
    query: list[tuple[str, str]] = [("map", m) for m in maps] + list(params.items())
    content_type = params.pop("content_type", "text/csv")
    query = [(k, v) for k, v in query if k != "content_type"]
    return await client.post(
        "/api/v1/contacts/import", data=data, params=query, headers={**headers, "Content-Type": content_type}
    )


async def test_import_over_the_api(client: TestClient, writer: dict[str, str], config: Config) -> None:
    data = (
        "Teléfono,Nombre,FPP,Notas\n"
        "55 1234 5678,Ana,01/03/2027,llamar por la tarde\n"
        "12345,Bety,02/03/2027,\n"
        "33 1234 5678,Carmen,31/02/2027,\n"
    ).encode()
    resp = await import_csv(client, writer, data, "FPP=field:due_date:date", "Notas=ignore")
    report = await ok(resp)
    assert report == {
        "rows": 3,
        "created": 1,
        "updated": 0,
        "failed": 2,
        "errors": [
            {"row": 3, "column": "Teléfono", "message": "phone is too short for a number in +52 (MX)"},
            {"row": 4, "column": "FPP", "message": "due_date is not a date in the calendar"},
        ],
        "errors_truncated": False,
    }
    page = await ok(await client.get("/api/v1/contacts", params={"phone": "5512345678"}, headers=writer))
    assert page["items"][0]["fields"] == {"due_date": "2027-03-01"}
    again = await ok(await import_csv(client, writer, data, "FPP=field:due_date", "Notas=ignore"))
    assert (again["created"], again["updated"]) == (0, 1)
    assert [e.action for e in await audit(config)] == ["contact.import", "contact.import"]


async def test_import_encodings(client: TestClient, writer: dict[str, str]) -> None:
    data = "teléfono,nombre\n5512345678,María Peña\n".encode("cp1252")
    err = await error(await import_csv(client, writer, data), 422)
    assert err["code"] == "import_refused"
    assert "line 1" in err["message"]
    assert (await ok(await import_csv(client, writer, data, encoding="cp1252")))["created"] == 1
    assert (await ok(await import_csv(client, writer, data, content_type="text/csv; charset=windows-1252")))[
        "updated"
    ] == 1
    for unknown in ("ebcdic-klingon", "utf-8\x00", "base64", "rot13"):
        err = await error(await import_csv(client, writer, data, encoding=unknown), 422)
        assert "unknown text encoding" in err["message"], unknown
    page = await ok(await client.get("/api/v1/contacts", headers=writer))
    assert [c["name"] for c in page["items"]] == ["María Peña"]


async def test_import_refusals(client: TestClient, writer: dict[str, str]) -> None:
    data = b"phone,Notas\n5512345678,x\n"
    err = await error(await import_csv(client, writer, data), 422)
    assert "Notas" in err["message"]
    await error(await import_csv(client, writer, data, "Notas"), 422)
    err = await error(await import_csv(client, writer, data, "Notas=ignore", mapping="x"), 422)
    assert err["details"] == [{"field": "mapping", "message": "unknown parameter"}]
    await error(await import_csv(client, writer, data, content_type="application/json"), 415)
    assert (await ok(await client.get("/api/v1/contacts", headers=writer)))["items"] == []


async def test_import_takes_bodies_past_the_json_limit_up_to_its_own(
    client: TestClient, writer: dict[str, str], config: Config
) -> None:
    note = "n" * 100_000
    rows = "".join(f"55{12_000_000 + i:08d},{note}\n" for i in range(15))  # 1.5 MB, over the JSON limit
    data = f"phone,Notas\n{rows}".encode()
    assert config.max_body_bytes < len(data) < config.max_import_bytes
    report = await ok(await import_csv(client, writer, io.BytesIO(data), "Notas=ignore"))
    assert report["created"] == 15
    too_big = data + b"5512345678," + b"n" * config.max_import_bytes + b"\n"
    await error(await import_csv(client, writer, io.BytesIO(too_big), "Notas=ignore"), 413)


async def test_a_million_character_cell_over_the_api_is_a_row_error(
    client: TestClient, writer: dict[str, str]
) -> None:
    data = ("phone,name\n5512345678,Ana\n3312345678," + "x" * 1_000_000 + "\n8112345678,Carmen\n").encode()
    report = await ok(await import_csv(client, writer, io.BytesIO(data)))
    assert (report["created"], report["failed"]) == (2, 1)
    assert report["errors"][0]["row"] == 3


async def test_the_report_lists_at_most_a_thousand_problems(
    client: TestClient, writer: dict[str, str]
) -> None:
    data = ("phone\n" + "bad\n" * 1200).encode()
    report = await ok(await import_csv(client, writer, data))
    assert (report["failed"], len(report["errors"]), report["errors_truncated"]) == (1200, 1000, True)
