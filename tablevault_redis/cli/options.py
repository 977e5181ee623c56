"""The options and arguments the commands share, checked before anything connects.

A malformed name or namespace is a usage error (exit 2) raised while parsing; only
a well-formed name that does not exist reaches Redis (and exits 1). Boolean options
are flags (``--json``, never ``--json/--no-json``).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any, TypeVar

import click

from .. import keys
from ..errors import ValidationError

F = TypeVar("F", bound=Callable[..., Any])


def check_name(value: str) -> str:
    try:
        return keys.check_name(value)
    except ValidationError as exc:
        raise click.BadParameter(str(exc)) from None


def _name(_ctx: click.Context, _param: click.Parameter, value: Any) -> Any:
    if value is None:
        return None
    if isinstance(value, tuple | list):
        return [check_name(v) for v in value]
    return check_name(value)


def _namespace(_ctx: click.Context, _param: click.Parameter, value: str) -> str:
    try:
        return keys.check_namespace(value)
    except ValidationError as exc:
        raise click.BadParameter(str(exc)) from None


def _operation_ids(_ctx: click.Context, _param: click.Parameter, values: Any) -> list[str]:
    """Operation ids are integers (timestamps): anything else is a usage error."""
    for value in values or ():
        if not value.strip().isdigit():
            raise click.BadParameter(f"operation ids are integers (see `ops`), got {value!r}")
    return list(values or ())


def complete_names(ctx: click.Context, _param: click.Parameter, incomplete: str) -> list[Any]:
    """Shell completion of process names: the names of the namespace on the line."""
    from click.shell_completion import CompletionItem

    try:
        from ..client import VaultClient

        url = ctx.params.get("url") or os.environ.get("TABLEVAULT_REDIS_URL")
        namespace = ctx.params.get("namespace") or os.environ.get("TABLEVAULT_NAMESPACE", "tv")
        with VaultClient(url, namespace) as client:
            names = [p.name for p in client.list_processes(include_ended=True)]
    except Exception:  # completion must never print a traceback into the shell
        return []
    return [CompletionItem(n) for n in names if n.startswith(incomplete)]


def connection(f: F) -> F:
    """``--url`` and ``--namespace``: where the processes are."""
    f = click.option(
        "--namespace",
        envvar="TABLEVAULT_NAMESPACE",
        default="tv",
        show_default=True,
        callback=_namespace,
        help="Key prefix shared by the processes to look at.",
    )(f)
    return click.option(
        "--url",
        envvar="TABLEVAULT_REDIS_URL",
        default=None,
        help="Redis URL (redis://, rediss://, unix://, redis+sentinel://); default: the "
        "embedded server.",
    )(f)


def flag(*names: str, help: str) -> Callable[[F], F]:  # noqa: A002  (click's name)
    return click.option(*names, is_flag=True, default=False, help=help)


json_option = flag("--json", "json_", help="Print JSON instead of a table.")
all_option = flag("--all", "-a", "all_", help="Include ended processes.")
wait_option = flag("--wait", help="Return only once the process has acted on it.")
timeout_option = click.option(
    "--timeout",
    type=click.FloatRange(min=0),
    default=30.0,
    show_default=True,
    help="Seconds --wait waits before giving up.",
)
name_argument = click.argument("name", callback=_name, shell_complete=complete_names)
optional_name_argument = click.argument(
    "name", required=False, callback=_name, shell_complete=complete_names
)
names_argument = click.argument("names", nargs=-1, callback=_name, shell_complete=complete_names)
operation_option = click.option(
    "--operation",
    "operation",
    multiple=True,
    metavar="ID",
    callback=_operation_ids,
    help="Clean up only this operation id (repeat for several; see `ops`); "
    "--interval is then ignored.",
)
filtered_option = click.option(
    "--filtered", multiple=True, callback=_name, help="Only this process (repeat for several)."
)
