"""``ops``, ``cleanup``, ``query`` and ``completion``.

Each reads only through :class:`VaultClient`; ``--json`` prints the results'
``to_dict()`` with :mod:`.plain`, and tables come from :mod:`.render`, imported only
when something is drawn.
"""

from __future__ import annotations

import time

import click

from .app import PROG, app, fail, note, session
from .options import connection, filtered_option, json_option, operation_option
from .plain import print_json


@app.command("ops")
@json_option
@connection
def ops(json_: bool, url: str | None, namespace: str) -> None:
    """List the multi-step writes in progress (open code items included)."""
    with session(url, namespace) as client:
        rows = [op.to_dict() for op in client.get_current_operations()]
    if json_:
        print_json(rows)
    elif not rows:
        note("no operations in progress")
    else:
        from . import render

        render.show(render.generic_table(rows, time.time()))


@app.command("cleanup")
@click.option(
    "--interval",
    type=click.FloatRange(min=0),
    default=60.0,
    show_default=True,
    help="Only operations older than this many seconds.",
)
@operation_option
@json_option
@connection
def cleanup(
    interval: float, operation: list[str], json_: bool, url: str | None, namespace: str
) -> None:
    """Finish or roll back stale operations, mark dead processes crashed, clear their
    requests. With --operation, an id that is not in progress is refused (exit 1)."""
    with session(url, namespace) as client:
        if operation:
            known = {op.id for op in client.get_current_operations()}
            unknown = [op for op in operation if op.strip() not in known]
            if unknown:
                fail(
                    f"no operation in progress with id {', '.join(unknown)} in namespace "
                    f"{namespace!r} (see `{PROG} ops`)"
                )
        report = client.vault_cleanup(interval=interval, selected_timestamps=operation or None)
    if json_:
        print_json(report.to_dict())
        return
    from . import render

    render.show(render.report_table(report.to_dict()))


@app.command("query")
@click.option("--code-text", help="Words the code item must contain.")
@click.option("--parent-code-text", help="Words the parent's spawning code item must contain.")
@click.option("--description-text", help="Words a description must contain.")
@filtered_option
@json_option
@connection
def query(
    code_text: str | None,
    parent_code_text: str | None,
    description_text: str | None,
    filtered: list[str] | None,
    json_: bool,
    url: str | None,
    namespace: str,
) -> None:
    """Find code items by text (every word must occur; filters combine with AND)."""
    with session(url, namespace) as client:
        matches = client.query_process_list(
            code_text=code_text,
            parent_code_text=parent_code_text,
            description_text=description_text,
            filtered=filtered or None,
        )
    rows = [m.to_dict() for m in matches]
    if json_:
        print_json(rows)
    elif not rows:
        note("no matches")
    else:
        from . import render

        render.show(render.generic_table(rows, time.time()))


@app.command("completion")
@click.argument("shell", type=click.Choice(["bash", "zsh", "fish"]))
def completion(shell: str) -> None:
    """Print the shell completion script (commands, options and process names).

    Load it from your shell's start-up file, e.g. for bash:
    eval "$(tablevault-redis completion bash)"
    """
    from click.shell_completion import get_completion_class

    cls = get_completion_class(shell)
    if cls is None:  # click.Choice already refused other shells
        fail(f"no completion for {shell}", 2)
    var = "_" + PROG.replace("-", "_").upper() + "_COMPLETE"
    print(cls(app, {}, PROG, var).source())
