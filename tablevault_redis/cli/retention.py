"""``prune`` and ``trim``: retention from the command line (see :mod:`retention`).

Ages are a number with a unit: ``90s``, ``30m``, ``12h``, ``7d``, ``2w`` (a plain
number is seconds). A malformed age is a usage error (exit 2).
"""

from __future__ import annotations

import re
from typing import Annotated

import typer

from .app import app, note, session
from .options import JsonOpt, NamespaceOpt, UrlOpt, check_name
from .plain import print_json

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
_AGE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw]?)\s*$")


def parse_age(value: str | None) -> float | None:
    """Seconds in an age such as ``7d``; typer.BadParameter if malformed."""
    if value is None:
        return None
    match = _AGE.match(value)
    if match is None:
        raise typer.BadParameter(f"an age is a number with s, m, h, d or w, got {value!r}")
    return float(match.group(1)) * _UNITS[match.group(2) or "s"]


OlderThanOpt = Annotated[
    str,
    typer.Option("--older-than", help="Age, e.g. 7d, 12h, 30m (plain number: seconds)."),
]
DryRunOpt = Annotated[bool, typer.Option("--dry-run", help="Report only; delete nothing.")]


@app.command("prune")
def prune(
    older_than: OlderThanOpt,
    dry_run: DryRunOpt = False,
    json_: JsonOpt = False,
    url: UrlOpt = None,
    namespace: NamespaceOpt = "tv",
) -> None:
    """Delete processes that ended longer ago than --older-than, with their code,
    runs, descriptions and index entries. Live processes are never touched."""
    seconds = parse_age(older_than)
    with session(url, namespace) as client:
        report = client.delete_processes(older_than=seconds or 0.0, dry_run=dry_run)
    if json_:
        print_json(report.to_dict())
        return
    verb = "would delete" if dry_run else "deleted"
    for name in report.deleted:
        print(f"{verb} {name}")
    note(f"{verb} {len(report.deleted)} process(es); kept {len(report.skipped)} checked again")


@app.command("trim")
def trim(
    name: Annotated[str, typer.Argument(metavar="LIST", help="Record list.", callback=check_name)],
    keep_last: Annotated[
        int | None, typer.Option("--keep-last", min=0, help="Keep only the last N records.")
    ] = None,
    older_than: Annotated[
        str | None, typer.Option("--older-than", help="Drop records older than this age.")
    ] = None,
    json_: JsonOpt = False,
    url: UrlOpt = None,
    namespace: NamespaceOpt = "tv",
) -> None:
    """Remove the oldest records of a record list (--keep-last and/or --older-than)."""
    seconds = parse_age(older_than)
    if keep_last is None and seconds is None:
        raise typer.BadParameter("give --keep-last or --older-than")
    with session(url, namespace) as client:
        removed = client.trim_record_list(name, keep_last=keep_last, older_than=seconds)
    if json_:
        print_json({"list": name, "removed": removed})
    else:
        note(f"removed {removed} record(s) from {name}")
