"""``prune`` and ``trim``: retention from the command line (see :mod:`retention`).

Ages are a number with a unit: ``90s``, ``30m``, ``12h``, ``7d``, ``2w`` (a plain
number is seconds). A malformed age is a usage error (exit 2).
"""

from __future__ import annotations

import re

import click

from .app import app, note, session
from .options import check_name as check_list
from .options import connection, flag, json_option
from .plain import print_json

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
_AGE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw]?)\s*$")


def parse_age(value: str | None) -> float | None:
    """Seconds in an age such as ``7d``; click.BadParameter if malformed."""
    if value is None:
        return None
    match = _AGE.match(value)
    if match is None:
        raise click.BadParameter(f"an age is a number with s, m, h, d or w, got {value!r}")
    return float(match.group(1)) * _UNITS[match.group(2) or "s"]


def _age(_ctx: click.Context, _param: click.Parameter, value: str | None) -> float | None:
    return parse_age(value)


@app.command("prune")
@click.option(
    "--older-than",
    "older_than",
    required=True,
    callback=_age,
    help="Age, e.g. 7d, 12h, 30m (plain number: seconds).",
)
@flag("--dry-run", "dry_run", help="Report only; delete nothing.")
@json_option
@connection
def prune(older_than: float, dry_run: bool, json_: bool, url: str | None, namespace: str) -> None:
    """Delete processes that ended longer ago than --older-than, with their code,
    runs, descriptions and index entries. Live processes are never touched."""
    with session(url, namespace) as client:
        report = client.delete_processes(older_than=older_than or 0.0, dry_run=dry_run)
    if json_:
        print_json(report.to_dict())
        return
    verb = "would delete" if dry_run else "deleted"
    for name in report.deleted:
        print(f"{verb} {name}")
    note(f"{verb} {len(report.deleted)} process(es); kept {len(report.skipped)} checked again")


@app.command("trim")
@click.argument("name", metavar="LIST", callback=lambda _c, _p, v: check_list(v))
@click.option(
    "--keep-last", type=click.IntRange(min=0), default=None, help="Keep only the last N records."
)
@click.option("--older-than", "older_than", callback=_age, help="Drop records older than this age.")
@json_option
@connection
def trim(
    name: str,
    keep_last: int | None,
    older_than: float | None,
    json_: bool,
    url: str | None,
    namespace: str,
) -> None:
    """Remove the oldest records of a record list (--keep-last and/or --older-than)."""
    if keep_last is None and older_than is None:
        raise click.UsageError("give --keep-last or --older-than")
    with session(url, namespace) as client:
        removed = client.trim_record_list(name, keep_last=keep_last, older_than=older_than)
    if json_:
        print_json({"list": name, "removed": removed})
    else:
        note(f"removed {removed} record(s) from {name}")
