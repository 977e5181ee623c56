"""The ``top`` screen: a live table of processes that can pause, resume and stop the
selected one. Built on textual (keys, a selectable table, a confirmation dialog, the
terminal restored on exit); imported only by ``top``.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any, ClassVar

from rich.text import Text
from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.screen import ModalScreen
from textual.widgets import DataTable, Footer, Static

from ..errors import TableVaultError
from .plain import heartbeat_text, last_record_text, pending_text, records_text
from .views import FILTERS, SORTS, live_or_recently_crashed, sort_processes

if TYPE_CHECKING:
    from ..client import VaultClient
    from ..models import ProcessInfo

COLUMNS = ("NAME", "STATUS", "RECS", "BEAT", "REQUEST", "LAST RECORD")
STYLE = {"running": "green", "paused": "yellow", "stopped": "magenta", "crashed": "bold red"}


def shown(procs: list[ProcessInfo], view: str, sort: str, match: str) -> list[ProcessInfo]:
    """The rows of a view: filtered by ``view`` and name substring, in ``sort`` order."""
    if view == "live":
        now = time.time()
        procs = [p for p in procs if live_or_recently_crashed(p, now)]
    elif view in ("running", "paused"):
        procs = [p for p in procs if p.alive and p.status == view]
    return sort_processes([p for p in procs if match in p.name], sort)


def row(p: ProcessInfo, now: float) -> list[Text]:
    return [
        Text(p.name),
        Text(p.status, style=STYLE.get(p.status, "")),
        Text(records_text(p), justify="right"),
        Text(heartbeat_text(p, now), justify="right"),
        Text(pending_text(p, now) or "-", style="yellow" if p.interrupt_action else ""),
        Text(last_record_text(p, 60)),
    ]


class Confirm(ModalScreen[bool]):
    """A yes/no question; y confirms, n or Escape cancels."""

    DEFAULT_CSS = "Confirm { align: center middle; } #question { width: auto; padding: 1 2; "
    DEFAULT_CSS += "border: thick $warning; background: $surface; }"
    BINDINGS: ClassVar[list[Any]] = [
        Binding("y", "answer(True)", "yes"),
        Binding("n", "answer(False)", "no"),
        Binding("escape", "answer(False)", "no", show=False),
    ]

    def __init__(self, question: str) -> None:
        super().__init__()
        self.question = question

    def compose(self) -> ComposeResult:
        yield Static(Text(f"{self.question}  [y/n]"), id="question")

    def action_answer(self, yes: bool) -> None:
        self.dismiss(yes)


class TopApp(App[None]):
    """Rows refresh every ``interval`` seconds; the cursor stays on its process."""

    TITLE = "tablevault-redis top"
    BINDINGS: ClassVar[list[Any]] = [
        Binding("q", "quit", "quit"),
        Binding("p", "request('pause')", "pause"),
        Binding("r", "request('resume')", "resume"),
        Binding("s", "stop", "stop"),
        Binding("o", "cycle_sort", "sort"),
        Binding("f", "cycle_filter", "filter"),
        Binding("j", "cursor(1)", "down", show=False),
        Binding("k", "cursor(-1)", "up", show=False),
    ]

    def __init__(
        self, client: VaultClient, *, interval: float, sort: str, view: str, match: str = ""
    ) -> None:
        super().__init__()
        self.client = client
        self.interval = interval
        self.sort, self.view, self.match = sort, view, match
        self.names: list[str] = []
        self.message = ""

    def compose(self) -> ComposeResult:
        yield Static(id="header")
        yield DataTable(id="table", cursor_type="row", zebra_stripes=True)
        yield Static(id="message")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one(DataTable).add_columns(*COLUMNS)
        self.refresh_rows()
        self.set_interval(self.interval, self.refresh_rows)

    @property
    def selected(self) -> str | None:
        table = self.query_one(DataTable)
        return self.names[table.cursor_row] if 0 <= table.cursor_row < len(self.names) else None

    def refresh_rows(self) -> None:
        try:
            procs = self.client.list_processes(include_ended=True)
        except TableVaultError as exc:
            self.say(f"cannot read: {exc}")
            return
        now, keep = time.time(), self.selected
        rows = shown(procs, self.view, self.sort, self.match)
        table = self.query_one(DataTable)
        table.clear()
        for p in rows:
            table.add_row(*row(p, now), key=p.name)
        self.names = [p.name for p in rows]
        if keep in self.names:
            table.move_cursor(row=self.names.index(keep))
        header = f"namespace {self.client.namespace} · {len(rows)} shown · sort {self.sort} "
        header += f"· filter {self.view}" + (f" · name ~ {self.match}" if self.match else "")
        self.query_one("#header", Static).update(Text(header + time.strftime(" · %H:%M:%S")))

    def say(self, text: str) -> None:
        self.message = text
        self.query_one("#message", Static).update(Text(text))

    def action_cursor(self, step: int) -> None:
        table = self.query_one(DataTable)
        if step > 0:
            table.action_cursor_down()
        else:
            table.action_cursor_up()

    def action_request(self, action: str) -> None:
        name = self.selected
        if name is None:
            self.say("no process selected")
            return
        try:
            (result,) = self.client.request_many(action, [name])
        except TableVaultError as exc:
            result = exc
        if isinstance(result, TableVaultError):
            self.say(f"{action} {name}: {result}")
        else:
            self.say(f"{action} requested for {name} (request {result})")
        self.refresh_rows()

    def action_stop(self) -> None:
        name = self.selected
        if name is None:
            self.say("no process selected")
            return

        def answered(yes: bool | None) -> None:
            if yes:
                self.action_request("stop")
            else:
                self.say(f"stop {name}: cancelled")

        self.push_screen(Confirm(f"Stop process {name} at its next checkpoint?"), answered)

    def action_cycle_sort(self) -> None:
        self.sort = _next(SORTS, self.sort)
        self.refresh_rows()

    def action_cycle_filter(self) -> None:
        self.view = _next(FILTERS, self.view)
        self.refresh_rows()


def _next(options: tuple[str, ...], current: str) -> str:
    return (
        options[(options.index(current) + 1) % len(options)] if current in options else options[0]
    )


def run(client: VaultClient, **options: Any) -> None:
    """Run the screen until q (or Ctrl-C)."""
    TopApp(client, **options).run()
