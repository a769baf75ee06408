"""API area: run results. Query them with a cursor, or export a flow's results as CSV, streamed.

Scope ``results:read``. A result row names the contact by uuid; her phone number is contact data, so the CSV
export fills its ``phone`` column only for tokens that may also read contacts (``contacts:read``) and leaves it
empty otherwise. Anonymous flows have no results here (see ``server.ratings``); their counts are at
``/api/v1/results/ratings``.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable
from typing import Any

from aiohttp import web

from server import ratings, results
from server.api import query as params
from server.api.errors import unprocessable
from server.api.pagination import page_body, parse_page
from server.appkeys import DB
from server.auth.guard import require
from server.auth.scopes import grants

LIST_PARAMETERS = ("flow", "key", "since", "limit", "cursor")
EXPORT_PARAMETERS = ("flow", "key", "since")
RATINGS_PARAMETERS = ("clinic", "week", "question")
EXPORT_COLUMNS = (
    "contact_uuid",
    "phone",
    "flow_uuid",
    "flow_name",
    "run_uuid",
    "result_key",
    "result_name",
    "value",
    "category",
    "input",
    "at",
)
# A cell a spreadsheet would run as a formula; contacts write these texts themselves.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_FLOW_UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
_WEEK = re.compile(r"^\d{4}-W\d{2}$")


def _flow(request: web.Request, *, required: bool) -> str | None:
    flow = params.text(request, "flow")
    if flow is None and required:
        raise unprocessable("flow is required", [{"field": "flow", "message": "is required"}])
    if flow is not None and not _FLOW_UUID.match(flow.lower()):
        raise unprocessable("flow must be a flow uuid", [{"field": "flow", "message": "must be a uuid"}])
    return flow.lower() if flow is not None else None


def _query(request: web.Request, allowed: Iterable[str], *, flow_required: bool) -> results.ResultQuery:
    params.reject_unknown(request, allowed)
    return results.ResultQuery(
        flow=_flow(request, required=flow_required),
        key=params.text(request, "key"),
        since=params.moment(request, "since", max_length=params.TEXT_PARAMETER_MAX),
    )


# --- handlers -----------------------------------------------------------------------------------------------


def result_json(result: results.Result) -> dict[str, Any]:
    return {
        "contact": str(result.contact_uuid),
        "flow": {"uuid": result.flow_uuid, "name": result.flow_name},
        "run": result.run_uuid,
        "key": result.key,
        "name": result.name,
        "value": result.value,
        "category": result.category,
        "input": result.input,
        "at": result.at.isoformat(),
    }


async def list_results(request: web.Request) -> web.Response:
    await require(request, scope="results:read")
    query = _query(request, LIST_PARAMETERS, flow_required=False)
    page = parse_page(request)
    async with request.app[DB].connect() as conn:
        found = await results.search_results(conn, query, after_id=page.after_id, limit=page.limit + 1)
    return web.json_response(page_body([result_json(r) for r in found], [r.id for r in found], page))


def _cell(value: str) -> str:
    return "'" + value if value.startswith(_FORMULA_START) else value


def _csv_line(values: Iterable[str]) -> bytes:
    out = io.StringIO()
    csv.writer(out, lineterminator="\r\n").writerow(values)
    return out.getvalue().encode("utf-8")


async def export_results(request: web.Request) -> web.StreamResponse:
    principal = await require(request, scope="results:read")
    query = _query(request, EXPORT_PARAMETERS, flow_required=True)
    assert query.flow is not None
    with_phone = grants(principal.scopes, "contacts:read")
    async with request.app[DB].connect() as conn:
        if not await results.flow_exists(conn, query.flow):
            raise unprocessable("no such flow", [{"field": "flow", "message": "no flow with this uuid"}])
    response = web.StreamResponse(
        headers={
            "Content-Type": "text/csv; charset=utf-8",
            "Content-Disposition": f'attachment; filename="results-{query.flow}.csv"',
            "Cache-Control": "no-store",
        }
    )
    await response.prepare(request)
    await response.write(_csv_line(EXPORT_COLUMNS))
    async for result in results.stream_results(request.app[DB], query):
        await response.write(
            _csv_line(
                [
                    str(result.contact_uuid),
                    result.contact_phone if with_phone else "",
                    result.flow_uuid,
                    _cell(result.flow_name or ""),
                    result.run_uuid,
                    _cell(result.key),
                    _cell(result.name),
                    _cell(result.value),
                    _cell(result.category),
                    _cell(result.input),
                    result.at.isoformat(),
                ]
            )
        )
    await response.write_eof()
    return response


async def list_ratings(request: web.Request) -> web.Response:
    await require(request, scope="results:read")
    params.reject_unknown(request, RATINGS_PARAMETERS)
    week = params.text(request, "week")
    if week is not None and not _WEEK.match(week):
        raise unprocessable(
            "week must be an ISO week", [{"field": "week", "message": "must look like 2027-W09"}]
        )
    async with request.app[DB].connect() as conn:
        found = await ratings.list_ratings(
            conn, clinic=params.text(request, "clinic"), week=week, question=params.text(request, "question")
        )
    return web.json_response(
        {
            "items": [
                {
                    "week": r.week,
                    "clinic": r.clinic,
                    "question": r.question,
                    "answer": r.answer,
                    "count": r.times,
                }
                for r in found
            ]
        }
    )


def setup(app: web.Application) -> None:
    app.router.add_get("/api/v1/results", list_results)
    app.router.add_get("/api/v1/results/export", export_results)
    app.router.add_get("/api/v1/results/ratings", list_ratings)
