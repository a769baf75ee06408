"""API area: contacts, their fields and groups, group membership, and CSV import.

Reading needs the ``contacts:read`` scope, every change ``contacts:write``. Storage is ``server.contacts``;
this module turns HTTP into calls to it and its errors into the API's one error shape.
"""

from __future__ import annotations

import contextlib
import tempfile
import uuid
from collections.abc import AsyncIterator
from typing import IO, Any

import sqlalchemy as sa
from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncConnection

from flows.phones import InvalidPhoneNumber, normalise_phone
from server import contacts
from server.api.errors import ApiError, conflict, not_found, unprocessable
from server.api.openapi import read_json
from server.api.pagination import page_body, parse_page
from server.appkeys import CLOCK, CONFIG, DB
from server.auth.guard import require
from server.campaigns import schedule
from server.contact_values import (
    FIELD_LABEL_MAX,
    GROUP_NAME_MAX,
    InvalidValue,
    check_field_key,
    check_status,
    check_value_type,
    clean_text,
    parse_value,
)
from server.contacts_import import ImportRefused, import_contacts, parse_mappings
from server.db.schema import contacts as contacts_table

READ = "contacts:read"
WRITE = "contacts:write"
# An import answers with every refused row up to this many; the counts always cover them all.
MAX_REPORTED_ERRORS = 1000
SPOOL_CHUNK_BYTES = 1 << 16
# Search parameters besides ``limit``, ``cursor`` and ``field.<key>``.
SEARCH_PARAMETERS = ("phone", "urn", "name", "status", "group")
FIELD_PARAMETER = "field."


def _invalid(problems: list[dict[str, str]]) -> ApiError:
    names = ", ".join(dict.fromkeys(p["field"] for p in problems))
    return unprocessable(f"invalid request: {names}", problems)


@contextlib.asynccontextmanager
async def _transaction(request: web.Request) -> AsyncIterator[AsyncConnection]:
    """One transaction, with the repository's errors turned into API errors."""
    try:
        async with request.app[DB].begin() as conn:
            yield conn
    except contacts.NotFound as exc:
        raise not_found(exc.what) from exc
    except contacts.Conflict as exc:
        raise conflict(exc.message, exc.details) from exc
    except contacts.Invalid as exc:
        raise _invalid(exc.problems) from exc
    except sa.exc.IntegrityError as exc:
        # Two requests raced for the same phone, key or name; the loser changed nothing.
        raise conflict("the change conflicts with one stored at the same moment; try again") from exc


def _uuid(request: web.Request, what: str) -> uuid.UUID:
    try:
        return uuid.UUID(request.match_info["uuid"])
    except ValueError:
        raise not_found(what) from None


def _when(value: Any) -> str | None:
    return value.isoformat() if value is not None else None


def contact_json(contact: contacts.Contact) -> dict[str, Any]:
    return {
        "uuid": str(contact.uuid),
        "phone": contact.phone,
        "name": contact.name,
        "language": contact.language,
        "timezone": contact.timezone,
        "status": contact.status,
        "fields": dict(contact.fields),
        "groups": [{"uuid": str(g.uuid), "name": g.name} for g in contact.groups],
        "created_at": _when(contact.created_at),
        "updated_at": _when(contact.updated_at),
        "last_seen_at": _when(contact.last_seen_at),
    }


def field_json(field: contacts.Field) -> dict[str, Any]:
    return {
        "key": field.key,
        "label": field.label,
        "value_type": field.value_type,
        "created_at": _when(field.created_at),
    }


def group_json(group: contacts.Group) -> dict[str, Any]:
    return {
        "uuid": str(group.uuid),
        "name": group.name,
        "members": group.members,
        "created_at": _when(group.created_at),
    }


# --- contacts ----------------------------------------------------------------------------------------------


def _query_phone(raw: str) -> str:
    """A query string turns "+" into a space unless the client encoded it; a phone never starts with one."""
    text = raw.strip(" ")
    if raw.startswith(" ") and text[:1].isdigit():
        text = "+" + text
    return text


async def _search_query(request: web.Request, conn: AsyncConnection) -> contacts.ContactQuery:
    config = request.app[CONFIG]
    query = request.query
    problems: list[dict[str, str]] = []
    unknown = [
        k
        for k in query
        if k not in (*SEARCH_PARAMETERS, "limit", "cursor") and not k.startswith(FIELD_PARAMETER)
    ]
    problems += [{"field": k, "message": "unknown search parameter"} for k in dict.fromkeys(unknown)]
    phone: str | None = None
    for name in ("phone", "urn"):
        if name not in query:
            continue
        raw = query[name]
        if name == "urn":
            scheme, sep, path = raw.partition(":")
            if not sep or scheme.lower() != "tel":
                problems.append({"field": "urn", "message": "only tel: URNs are stored, as tel:+52..."})
                continue
            raw = path
        try:
            phone = normalise_phone(_query_phone(raw), config.default_region)
        except InvalidPhoneNumber as exc:
            problems.append({"field": name, "message": f"phone number {exc.reason}"})
    status = query.get("status")
    if status is not None:
        try:
            check_status(status)
        except InvalidValue as exc:
            problems.append({"field": "status", "message": exc.reason})
    group_id: int | None = None
    if "group" in query:
        group = await _find_group(conn, query["group"])
        if group is None:
            problems.append({"field": "group", "message": "no group has this uuid or name"})
        else:
            group_id = group.id
    values: list[tuple[contacts.Field, Any]] = []
    known = await contacts.load_fields(conn) if any(k.startswith(FIELD_PARAMETER) for k in query) else {}
    for name, raw in query.items():
        if not name.startswith(FIELD_PARAMETER):
            continue
        field = known.get(name[len(FIELD_PARAMETER) :])
        if field is None:
            problems.append({"field": name, "message": "no such field"})
            continue
        try:
            values.append((field, parse_value(field.value_type, raw, config.tz)))
        except InvalidValue as exc:
            problems.append({"field": name, "message": exc.reason})
    if problems:
        raise _invalid(problems)
    return contacts.ContactQuery(
        phone=phone,
        name=query.get("name"),
        status=status,
        group_id=group_id,
        values=tuple(values),
    )


async def _find_group(conn: AsyncConnection, uuid_or_name: str) -> contacts.Group | None:
    try:
        return await contacts.get_group(conn, uuid.UUID(uuid_or_name))
    except ValueError:
        return await contacts.find_group_by_name(conn, uuid_or_name)
    except contacts.NotFound:
        return None


async def list_contacts(request: web.Request) -> web.Response:
    await require(request, scope=READ)
    page = parse_page(request)
    async with _transaction(request) as conn:
        query = await _search_query(request, conn)
        found = await contacts.search_contacts(conn, query, after_id=page.after_id, limit=page.limit + 1)
    return web.json_response(page_body([contact_json(c) for c in found], [c.id for c in found], page))


async def _reschedule(request: web.Request, conn: AsyncConnection, contact_ids: list[int]) -> None:
    """Campaign schedules follow a contact's dates, groups and status, in the transaction that changed them."""
    await schedule.contacts_changed(
        conn, contact_ids, now=request.app[CLOCK].now(), timezone=request.app[CONFIG].programme_timezone
    )


async def _ids_of(conn: AsyncConnection, contact_uuids: list[uuid.UUID]) -> list[int]:
    rows = await conn.execute(sa.select(contacts_table.c.id).where(contacts_table.c.uuid.in_(contact_uuids)))
    return [row[0] for row in rows]


async def create_contact(request: web.Request) -> web.Response:
    await require(request, scope=WRITE)
    payload = await read_json(request, "ContactCreate")
    config = request.app[CONFIG]
    async with _transaction(request) as conn:
        known = await contacts.load_fields(conn)
        changes = contacts.read_changes(payload, known, tz=config.tz, region=config.default_region)
        contact = await contacts.create_contact(conn, changes, now=request.app[CLOCK].now())
        await _reschedule(request, conn, [contact.id])
    location = f"/api/v1/contacts/{contact.uuid}"
    return web.json_response(contact_json(contact), status=201, headers={"Location": location})


async def get_contact(request: web.Request) -> web.Response:
    await require(request, scope=READ)
    contact_uuid = _uuid(request, "contact")
    async with _transaction(request) as conn:
        contact = await contacts.get_contact(conn, contact_uuid)
    return web.json_response(contact_json(contact))


async def update_contact(request: web.Request) -> web.Response:
    principal = await require(request, scope=WRITE)
    contact_uuid = _uuid(request, "contact")
    payload = await read_json(request, "ContactUpdate")
    config = request.app[CONFIG]
    async with _transaction(request) as conn:
        known = await contacts.load_fields(conn)
        changes = contacts.read_changes(payload, known, tz=config.tz, region=config.default_region)
        contact = await contacts.update_contact(
            conn, contact_uuid, changes, now=request.app[CLOCK].now(), actor=principal.name
        )
        await _reschedule(request, conn, [contact.id])
    return web.json_response(contact_json(contact))


async def delete_contact(request: web.Request) -> web.Response:
    principal = await require(request, scope=WRITE)
    contact_uuid = _uuid(request, "contact")
    async with _transaction(request) as conn:
        await contacts.delete_contact(conn, contact_uuid, now=request.app[CLOCK].now(), actor=principal.name)
    return web.Response(status=204)


# --- import ------------------------------------------------------------------------------------------------


async def _spool_body(request: web.Request, into: IO[bytes], limit: int) -> None:
    """Copy the body to ``into``, refusing it past ``limit`` bytes (this route's own, larger, limit)."""
    if request.content_length is not None and request.content_length > limit:
        raise web.HTTPRequestEntityTooLarge(max_size=limit, actual_size=request.content_length)
    size = 0
    async for chunk in request.content.iter_chunked(SPOOL_CHUNK_BYTES):
        size += len(chunk)
        if size > limit:
            raise web.HTTPRequestEntityTooLarge(max_size=limit, actual_size=size)
        into.write(chunk)
    into.seek(0)


async def import_csv(request: web.Request) -> web.Response:
    principal = await require(request, scope=WRITE)
    if request.content_type != "text/csv":
        raise ApiError(415, "unsupported_media_type", "send the file as text/csv")
    config = request.app[CONFIG]
    unknown = [k for k in request.query if k not in ("map", "encoding")]
    if unknown:
        raise _invalid([{"field": k, "message": "unknown parameter"} for k in dict.fromkeys(unknown)])
    try:
        mappings = parse_mappings(request.query.getall("map", []))
        # The charset of the Content-Type counts when the encoding parameter does not say otherwise.
        encoding = request.query.get("encoding") or request.charset
        # Spooled to disk in the data directory rather than held in memory: imports may be tens of megabytes.
        with tempfile.TemporaryFile(dir=config.data_dir) as spool:
            await _spool_body(request, spool, config.max_import_bytes)
            report = await import_contacts(
                request.app[DB],
                spool,
                mappings=mappings,
                encoding=encoding,
                tz=config.tz,
                programme_timezone=config.programme_timezone,
                region=config.default_region,
                now=request.app[CLOCK].now(),
                actor=principal.name,
            )
    except ImportRefused as exc:
        raise ApiError(422, "import_refused", str(exc)) from exc
    return web.json_response(report.as_dict(max_errors=MAX_REPORTED_ERRORS))


# --- fields ------------------------------------------------------------------------------------------------


def _checked(checks: dict[str, tuple[Any, Any]]) -> dict[str, Any]:
    """Run each ``name: (check, value)``; all problems are reported together."""
    values: dict[str, Any] = {}
    problems: list[dict[str, str]] = []
    for name, (check, value) in checks.items():
        try:
            values[name] = check(value)
        except InvalidValue as exc:
            problems.append({"field": name, "message": exc.reason})
    if problems:
        raise _invalid(problems)
    return values


def _label(value: str) -> str:
    label = clean_text(value, max_length=FIELD_LABEL_MAX)
    if not label:
        raise InvalidValue("is empty")
    return label


def _group_name(value: str) -> str:
    name = clean_text(value, max_length=GROUP_NAME_MAX)
    if not name:
        raise InvalidValue("is empty")
    return name


async def list_fields(request: web.Request) -> web.Response:
    await require(request, scope=READ)
    page = parse_page(request)
    async with _transaction(request) as conn:
        found = await contacts.list_fields(conn, after_id=page.after_id, limit=page.limit + 1)
    return web.json_response(page_body([field_json(f) for f in found], [f.id for f in found], page))


async def create_field(request: web.Request) -> web.Response:
    await require(request, scope=WRITE)
    payload = await read_json(request, "FieldCreate")
    values = _checked(
        {
            "key": (check_field_key, payload["key"]),
            "label": (_label, payload["label"]),
            "value_type": (check_value_type, payload.get("value_type", "text")),
        }
    )
    async with _transaction(request) as conn:
        field = await contacts.create_field(conn, **values, now=request.app[CLOCK].now())
    return web.json_response(
        field_json(field), status=201, headers={"Location": f"/api/v1/fields/{field.key}"}
    )


async def get_field(request: web.Request) -> web.Response:
    await require(request, scope=READ)
    async with _transaction(request) as conn:
        field = await contacts.get_field(conn, request.match_info["key"])
    return web.json_response(field_json(field))


async def update_field(request: web.Request) -> web.Response:
    await require(request, scope=WRITE)
    payload = await read_json(request, "FieldUpdate")
    values = _checked({"label": (_label, payload["label"])})
    async with _transaction(request) as conn:
        field = await contacts.update_field(conn, request.match_info["key"], label=values["label"])
    return web.json_response(field_json(field))


async def delete_field(request: web.Request) -> web.Response:
    principal = await require(request, scope=WRITE)
    async with _transaction(request) as conn:
        await contacts.delete_field(
            conn, request.match_info["key"], now=request.app[CLOCK].now(), actor=principal.name
        )
    return web.Response(status=204)


# --- groups ------------------------------------------------------------------------------------------------


async def list_groups(request: web.Request) -> web.Response:
    await require(request, scope=READ)
    page = parse_page(request)
    async with _transaction(request) as conn:
        found = await contacts.list_groups(conn, after_id=page.after_id, limit=page.limit + 1)
    return web.json_response(page_body([group_json(g) for g in found], [g.id for g in found], page))


async def create_group(request: web.Request) -> web.Response:
    await require(request, scope=WRITE)
    payload = await read_json(request, "GroupCreate")
    values = _checked({"name": (_group_name, payload["name"])})
    async with _transaction(request) as conn:
        group = await contacts.create_group(conn, values["name"], now=request.app[CLOCK].now())
    return web.json_response(
        group_json(group), status=201, headers={"Location": f"/api/v1/groups/{group.uuid}"}
    )


async def get_group(request: web.Request) -> web.Response:
    await require(request, scope=READ)
    group_uuid = _uuid(request, "group")
    async with _transaction(request) as conn:
        group = await contacts.get_group(conn, group_uuid)
    return web.json_response(group_json(group))


async def update_group(request: web.Request) -> web.Response:
    await require(request, scope=WRITE)
    group_uuid = _uuid(request, "group")
    payload = await read_json(request, "GroupUpdate")
    values = _checked({"name": (_group_name, payload["name"])})
    async with _transaction(request) as conn:
        group = await contacts.rename_group(conn, group_uuid, values["name"])
    return web.json_response(group_json(group))


async def delete_group(request: web.Request) -> web.Response:
    principal = await require(request, scope=WRITE)
    group_uuid = _uuid(request, "group")
    async with _transaction(request) as conn:
        await contacts.delete_group(conn, group_uuid, now=request.app[CLOCK].now(), actor=principal.name)
    return web.Response(status=204)


async def _membership_change(request: web.Request) -> tuple[uuid.UUID, list[uuid.UUID]]:
    await require(request, scope=WRITE)
    group_uuid = _uuid(request, "group")
    payload = await read_json(request, "MembershipChange")
    return group_uuid, [uuid.UUID(u) for u in payload["contacts"]]


async def add_members(request: web.Request) -> web.Response:
    group_uuid, contact_uuids = await _membership_change(request)
    async with _transaction(request) as conn:
        added = await contacts.add_members(conn, group_uuid, contact_uuids, now=request.app[CLOCK].now())
        await _reschedule(request, conn, await _ids_of(conn, contact_uuids))
        group = await contacts.get_group(conn, group_uuid)
    return web.json_response({"added": added, "group": group_json(group)})


async def remove_members(request: web.Request) -> web.Response:
    group_uuid, contact_uuids = await _membership_change(request)
    async with _transaction(request) as conn:
        removed = await contacts.remove_members(conn, group_uuid, contact_uuids)
        await _reschedule(request, conn, await _ids_of(conn, contact_uuids))
        group = await contacts.get_group(conn, group_uuid)
    return web.json_response({"removed": removed, "group": group_json(group)})


def setup(app: web.Application) -> None:
    router = app.router
    router.add_get("/api/v1/contacts", list_contacts)
    router.add_post("/api/v1/contacts", create_contact)
    router.add_post("/api/v1/contacts/import", import_csv)
    router.add_get("/api/v1/contacts/{uuid}", get_contact)
    router.add_patch("/api/v1/contacts/{uuid}", update_contact)
    router.add_delete("/api/v1/contacts/{uuid}", delete_contact)
    router.add_get("/api/v1/fields", list_fields)
    router.add_post("/api/v1/fields", create_field)
    router.add_get("/api/v1/fields/{key}", get_field)
    router.add_patch("/api/v1/fields/{key}", update_field)
    router.add_delete("/api/v1/fields/{key}", delete_field)
    router.add_get("/api/v1/groups", list_groups)
    router.add_post("/api/v1/groups", create_group)
    router.add_get("/api/v1/groups/{uuid}", get_group)
    router.add_patch("/api/v1/groups/{uuid}", update_group)
    router.add_delete("/api/v1/groups/{uuid}", delete_group)
    router.add_post("/api/v1/groups/{uuid}/members", add_members)
    router.add_post("/api/v1/groups/{uuid}/members/remove", remove_members)
