"""The options and arguments the commands share, checked before anything connects.

A malformed name or namespace is a usage error (exit 2) raised while parsing; only
a well-formed name that does not exist reaches Redis (and exits 1).
"""

from __future__ import annotations

from typing import Annotated

import typer

from .. import keys
from ..errors import ValidationError


def check_name(value: str) -> str:
    try:
        return keys.check_name(value)
    except ValidationError as exc:
        raise typer.BadParameter(str(exc)) from None


def check_optional_name(value: str | None) -> str | None:
    return None if value is None else check_name(value)


def check_names(values: list[str] | None) -> list[str] | None:
    return [check_name(v) for v in values] if values else values


def check_namespace(value: str) -> str:
    try:
        return keys.check_namespace(value)
    except ValidationError as exc:
        raise typer.BadParameter(str(exc)) from None


def check_operation_ids(values: list[str] | None) -> list[str] | None:
    """Operation ids are integers (timestamps): anything else is a usage error."""
    for value in values or []:
        if not value.strip().isdigit():
            raise typer.BadParameter(f"operation ids are integers (see `ops`), got {value!r}")
    return values


UrlOpt = Annotated[
    str | None,
    typer.Option(
        "--url",
        envvar="TABLEVAULT_REDIS_URL",
        help="Redis URL (redis://, rediss://, unix://); default: the embedded server.",
        show_default=False,
    ),
]
NamespaceOpt = Annotated[
    str,
    typer.Option(
        "--namespace",
        envvar="TABLEVAULT_NAMESPACE",
        help="Key prefix shared by the processes to look at.",
        callback=check_namespace,
    ),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]
AllOpt = Annotated[bool, typer.Option("--all", "-a", help="Include ended processes.")]
NameArg = Annotated[str, typer.Argument(metavar="NAME", help="Process name.", callback=check_name)]
OptionalNameArg = Annotated[
    str | None,
    typer.Argument(
        metavar="NAME",
        help="Show only this process and its descendants.",
        show_default=False,
        callback=check_optional_name,
    ),
]
WaitOpt = Annotated[
    bool, typer.Option("--wait", help="Return only once the process has acted on it.")
]
TimeoutOpt = Annotated[
    float, typer.Option("--timeout", min=0, help="Seconds --wait waits before giving up.")
]
FollowOpt = Annotated[
    bool,
    typer.Option(
        "--follow", "-f", help="Keep printing code items as they open and close (Ctrl-C ends)."
    ),
]
LogsJsonOpt = Annotated[
    bool,
    typer.Option(
        "--json",
        help="Print a JSON list of code items; with -f, one JSON object per line: the "
        'items (event "item"), then each stream event ("open"/"close").',
    ),
]
IntervalOpt = Annotated[
    float,
    typer.Option("--interval", min=0, help="Only operations older than this many seconds."),
]
OperationOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--operation",
        metavar="ID",
        help="Clean up only this operation id (repeat for several; see `ops`); "
        "--interval is then ignored.",
        callback=check_operation_ids,
    ),
]
CodeTextOpt = Annotated[
    str | None, typer.Option("--code-text", help="Words the code item must contain.")
]
ParentCodeTextOpt = Annotated[
    str | None,
    typer.Option("--parent-code-text", help="Words the parent's spawning code item must contain."),
]
DescriptionTextOpt = Annotated[
    str | None,
    typer.Option("--description-text", help="Words a description must contain."),
]
FilteredOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--filtered", help="Only this process (repeat for several).", callback=check_names
    ),
]
