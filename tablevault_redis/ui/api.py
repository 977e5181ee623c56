"""The JSON API the page uses (and scripts may): processes, control, record lists,
exports and the live feeds.

Every route takes the namespace as ``?namespace=`` (default: the first one the
server shows); one it does not show is a 404. Errors are JSON ``{"error",
"status"}``: 400 bad argument, 403 read-only, 404 unknown, 409 the process's state
refuses the request, 503 Redis unreachable.
"""

from __future__ import annotations

import csv
import io
import json
import logging
from collections.abc import Iterator
from typing import Any

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from .. import keys
from ..client import VaultClient
from ..errors import (
    ConflictError,
    NotFoundError,
    TableVaultError,
    ValidationError,
    VaultConnectionError,
)
from . import events, views
from .state import UiState

log = logging.getLogger(__name__)

_EXPORT_CHUNK = 1000  # records read per round trip while exporting
ACTIONS = ("stop", "pause", "resume")


def _state(request: Request) -> UiState:
    state: UiState = request.app.state.ui
    return state


def _ns(request: Request) -> str | None:
    return request.query_params.get("namespace") or None


def _client(request: Request) -> VaultClient:
    return _state(request).client(_ns(request))


def _name(request: Request, what: str = "process name") -> str:
    return keys.check_name(request.path_params["name"], what)


def error_response(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": message, "status": status}, status_code=status)


def handle_error(request: Request, exc: Exception) -> Response:
    """Library errors as JSON with the status that says what went wrong."""
    if isinstance(exc, HTTPException):
        return error_response(exc.status_code, str(exc.detail))
    if isinstance(exc, NotFoundError):
        return error_response(404, str(exc))
    if isinstance(exc, VaultConnectionError):
        return error_response(503, str(exc))
    if isinstance(exc, ValidationError | TableVaultError):
        return error_response(400, str(exc))
    raise exc


# -- processes -----------------------------------------------------------------------


def list_processes(request: Request) -> Response:
    """A page of ``ProcessInfo.to_dict()`` objects (as ``ps --json``), oldest first
    unless ``order=newest``; ``X-Total-Count`` says how many match."""
    q = views.TableQuery.parse(request.query_params)
    total, procs = views.process_page(_state(request), _client(request).namespace, q)
    return JSONResponse([p.to_dict() for p in procs], headers={"X-Total-Count": str(total)})


def get_process(request: Request) -> Response:
    return JSONResponse(_client(request).get_process(_name(request)).to_dict())


def control(request: Request) -> Response:
    """``POST .../{stop,pause,resume}``: 202 once the request is made."""
    state = _state(request)
    action = request.path_params["action"]
    if action not in ACTIONS:
        return error_response(404, f"unknown action {action!r}: use one of {ACTIONS}")
    if state.config.read_only:
        return error_response(403, "this dashboard is read-only: control is disabled")
    name = _name(request)
    client = _client(request)
    by = f"ui:{request.client.host if request.client else '?'}"
    try:
        made = state.request(client.namespace, name, action, by)
    except NotFoundError as exc:
        return error_response(404, str(exc))
    except (ConflictError, ValidationError) as exc:
        return error_response(409, str(exc))
    return JSONResponse(made, status_code=202)


def table(request: Request) -> Response:
    q = views.TableQuery.parse(request.query_params, default_limit=50)
    return JSONResponse(views.table_view(_state(request), _client(request).namespace, q))


def detail(request: Request) -> Response:
    name = _name(request)
    return JSONResponse(views.detail_view(_state(request), _client(request).namespace, name))


def process_records(request: Request) -> Response:
    name = _name(request)
    ns = _client(request).namespace
    return JSONResponse(views.process_records(_state(request), ns, name))


# -- record lists --------------------------------------------------------------------


def lists(request: Request) -> Response:
    return JSONResponse(views.lists_view(_state(request), _client(request).namespace))


def records(request: Request) -> Response:
    """A page of record dicts, ``offset``/``limit``; ``X-Total-Count`` is the length."""
    name = _name(request, "record list name")
    offset = views._int_arg(request.query_params.get("offset"), "offset", 0, 0, 10**12)
    limit = views._int_arg(request.query_params.get("limit"), "limit", 100, 0, views.MAX_PAGE)
    total, page = views.records_page(_client(request), name, offset, limit)
    return JSONResponse(page, headers={"X-Total-Count": str(total)})


def tail(request: Request) -> Response:
    """The last ``last`` records (at most 100,000) with their start index and the
    process that wrote each: the plot's first window, continued by the live feed."""
    name = _name(request, "record list name")
    last = views._int_arg(request.query_params.get("last"), "last", 5000, 0, 100_000)
    client = _client(request)
    columns = client.get_record_list_columns(name)
    total = client.record_counts([name])[name]
    start = max(0, total - last)
    page = client.query_item_content(name, start_position=start, end_position=total)
    writers = client.record_writers(name, start, start + len(page))
    body = {"columns": columns, "total": total, "start": start, "records": page}
    return JSONResponse({**body, "writers": writers})


def _export_chunks(client: VaultClient, name: str) -> Iterator[list[dict[str, Any]]]:
    total = client.record_counts([name])[name]
    for start in range(0, total, _EXPORT_CHUNK):
        yield client.query_item_content(
            name, start_position=start, end_position=min(total, start + _EXPORT_CHUNK)
        )


def _csv_rows(columns: list[str], chunks: Iterator[list[dict[str, Any]]]) -> Iterator[str]:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["index", *columns])
    index = 0
    for chunk in chunks:
        for record in chunk:
            cells = [record.get(c) for c in columns]
            writer.writerow([index, *(_csv_cell(v) for v in cells)])
            index += 1
        yield buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()
    yield buffer.getvalue()


def _csv_cell(value: Any) -> Any:
    return json.dumps(value) if isinstance(value, dict | list) or value is None else value


def _json_items(chunks: Iterator[list[dict[str, Any]]]) -> Iterator[str]:
    yield "["
    first = True
    for chunk in chunks:
        for record in chunk:
            yield ("" if first else ",\n") + json.dumps(record, allow_nan=True)
            first = False
    yield "]\n"


def export(request: Request) -> Response:
    """The whole list as a CSV or JSON download, read and sent in chunks."""
    name = _name(request, "record list name")
    fmt = request.path_params["fmt"]
    if fmt not in ("csv", "json"):
        return error_response(404, f"unknown export format {fmt!r}: use csv or json")
    client = _client(request)
    columns = client.get_record_list_columns(name)
    chunks = _export_chunks(client, name)
    body = _csv_rows(columns, chunks) if fmt == "csv" else _json_items(chunks)
    media = "text/csv" if fmt == "csv" else "application/json"
    safe = "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in name)
    disposition = f'attachment; filename="{safe}.{fmt}"'
    return StreamingResponse(body, media_type=media, headers={"Content-Disposition": disposition})


# -- live feeds ----------------------------------------------------------------------


def table_feed(request: Request) -> Response:
    state = _state(request)
    ns = _client(request).namespace
    q = views.TableQuery.parse(request.query_params, default_limit=50)
    return events.feed(lambda: views.table_view(state, ns, q))


def process_feed(request: Request) -> Response:
    state, name = _state(request), _name(request)
    ns = _client(request).namespace
    return events.feed(lambda: views.detail_view(state, ns, name))


def list_feed(request: Request) -> Response:
    name = _name(request, "record list name")
    client = _client(request)
    client.get_record_list_columns(name)
    after = views._int_arg(request.query_params.get("after"), "after", 0, 0, 10**12)
    tail_ = events.RecordTail(
        lambda: client.record_counts([name])[name],
        lambda start, stop: client.query_item_content(
            name, start_position=start, end_position=stop
        ),
        lambda start, stop: client.record_writers(name, start, stop),
        after,
    )
    return events.feed(tail_)


def config(request: Request) -> Response:
    state = _state(request)
    return JSONResponse({"namespaces": state.namespaces, "read_only": state.config.read_only})


ROUTES = [
    Route("/api/config", config),
    Route("/api/processes", list_processes),
    Route("/api/processes/{name:path}/{action}", control, methods=["POST"]),
    Route("/api/processes/{name:path}", get_process),
    Route("/api/view/table", table),
    Route("/api/view/process/{name:path}", detail),
    Route("/api/view/process-records/{name:path}", process_records),
    Route("/api/lists", lists),
    Route("/api/lists/{name:path}/records", records),
    Route("/api/lists/{name:path}/tail", tail),
    Route("/api/lists/{name:path}/export.{fmt}", export),
    Route("/api/events/table", table_feed),
    Route("/api/events/process/{name:path}", process_feed),
    Route("/api/events/list/{name:path}", list_feed),
]
