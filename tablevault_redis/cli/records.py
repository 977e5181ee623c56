"""``records LIST``: a record list's records and the process that wrote each, so how
far a run got can be seen without ``redis-cli``.

``--json`` prints the records themselves, as ``query_item_content(LIST,
process_name=NAME)`` returns them; the table adds each record's index and writer.
"""

from __future__ import annotations

from typing import Any

import click

from .app import app, note, session
from .options import _name, connection, json_option
from .options import check_name as check_list
from .plain import print_json


@app.command("records")
@click.argument("name", metavar="LIST", callback=lambda _c, _p, v: check_list(v))
@click.option(
    "--process",
    "process",
    metavar="NAME",
    callback=_name,
    help="Only the records this process wrote.",
)
@click.option(
    "--last",
    type=click.IntRange(min=1),
    default=None,
    metavar="N",
    help="Only the last N of the records shown.",
)
@json_option
@connection
def records(
    name: str, process: str | None, last: int | None, json_: bool, url: str | None, namespace: str
) -> None:
    """Show a record list's records, each with its index and the process that wrote
    it (--process: only that process's records)."""
    with session(url, namespace) as client:
        columns = client.get_record_list_columns(name)
        found = client.get_records(name)
        writers = client.record_writers(name, 0, len(found))
    rows = [
        (i, writer, record)
        for i, (record, writer) in enumerate(zip(found, writers, strict=True))
        if process is None or writer == process
    ]
    if last is not None:
        rows = rows[-last:]
    if json_:
        print_json([record for _i, _w, record in rows])
        return
    if not rows:
        note(_nothing(name, process, writers))
        return
    from . import render

    render.show(render.records_table(columns, rows))
    written = f" written by {process}" if process else ""
    note(f"{len(rows)} record(s){written} shown; {name} has {len(found)}")


def _nothing(name: str, process: str | None, writers: list[Any]) -> str:
    """Why nothing is shown, naming the processes that did write to the list."""
    if process is None:
        return f"record list {name} is empty"
    others = sorted({w for w in writers if w})
    listed = f" (written by: {', '.join(others)})" if others else ""
    return f"no records of process {process} in {name}{listed}"
