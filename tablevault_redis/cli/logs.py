"""``logs`` and ``logs -f``: a process's code items, then its code stream live, with
its status changes, until the process ends.

The code stream holds only code items; status changes (paused, resumed, a request
made, stopped, completed, failed, crashed) come from the process record, which the
follower reads between stream reads (every ``STATUS_POLL_S``). A crash writes
nothing anywhere: the record's heartbeat expiring is what turns it ``crashed``, so
polling the record is also what ends ``logs -f`` after a ``kill -9``.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

import click

from ..errors import NotFoundError, VaultConnectionError
from ..models import FINAL_STATUSES
from .app import PROG, app, note, session
from .options import connection, name_argument
from .plain import print_event, print_item, print_json, print_json_line, unreached_text, when

if TYPE_CHECKING:
    from ..client import VaultClient
    from ..events import CodeEvent
    from ..models import ProcessInfo

STATUS_POLL_S = 0.5  # how often the follower reads the record
BLOCK_MS = 250  # one XREAD's wait: the record is read at least this often


@app.command("logs")
@name_argument
@click.option(
    "--follow",
    "-f",
    is_flag=True,
    help="Keep printing code items and status changes as they happen; ends when the "
    "process ends (or on Ctrl-C).",
)
@click.option(
    "--json",
    "json_",
    is_flag=True,
    help="Print a JSON list of code items; with -f, one JSON object per line: the "
    'items (event "item"), then each stream event ("open"/"close") and status change '
    '("status").',
)
@connection
def logs(name: str, follow: bool, json_: bool, url: str | None, namespace: str) -> None:
    """Print a process's code items; with -f, follow them and its status live."""
    from ..events import code_items

    with session(url, namespace) as client:
        events = client.code_events(name)
        items = code_items(events, client.get_process(name))
        if json_ and not follow:
            print_json([i.to_dict() for i in items])
            return
        for item in items:
            if json_:
                print_json_line({"event": "item", **item.to_dict()})
            else:
                print_item(item)
        if not follow:
            return
        # Continue from the last entry read, not "$": nothing written between the
        # first read and the follow is missed.
        follower = Follower(client, name, json_, events[-1].id if events else "0-0")
        follower.run()


@dataclass
class Follower:
    """Prints code events as they come and status changes as the record shows them;
    stops once the record is final (after printing the stream's last entries)."""

    client: VaultClient
    name: str
    json_: bool
    last_id: str
    seen: tuple[str, str | None] | None = None  # (status, pending action) last printed
    followed_run: int | None = None  # the run followed: a new run of the name ends the follow
    next_poll: float = 0.0
    ended: ProcessInfo | None = field(default=None, repr=False)

    def run(self) -> None:
        try:
            self.poll()  # the state the follow starts from
            if self.ended is None:
                for event in self.client.follow_code(
                    self.name,
                    after=self.last_id,
                    block_ms=BLOCK_MS,
                    stop=self.poll,
                    on_outage=_outage_note,
                ):
                    self.event(event)
            # The final status and the last close event are written together: read
            # what the stream has beyond the last event printed, then say how it ended.
            for event in self.client.code_events(self.name, after=self.last_id):
                self.event(event)
        except KeyboardInterrupt:
            return
        if self.ended is None:
            return
        if self.followed_run is not None and self.ended.run != self.followed_run:
            self.print_line(f"run {self.followed_run} ended; run {self.ended.run} started", None)
        else:
            self.status(self.ended, final=True)

    def event(self, event: CodeEvent) -> None:
        self.last_id = event.id
        if self.json_:
            print_json_line(event.to_dict())
        else:
            print_event(event)

    def poll(self) -> bool:
        """``follow_code``'s stop check: read the record now and then; True once final."""
        now = time.monotonic()
        if now < self.next_poll:
            return False
        self.next_poll = now + STATUS_POLL_S
        try:
            info = self.client.get_process(self.name)
        except VaultConnectionError:
            return False  # the stream read reports (and rides out) the outage
        except NotFoundError:
            return False  # not there yet: logs -f on a name that is about to run
        if self.followed_run is None:
            self.followed_run = info.run
        if info.status in FINAL_STATUSES or info.run != self.followed_run:
            self.ended = info
            return True
        self.status(info)
        return False

    def status(self, info: ProcessInfo, final: bool = False) -> None:
        """Print the status line when status or pending request changed."""
        state = (info.status, info.interrupt_action)
        if state == self.seen:
            return
        first, self.seen = self.seen is None, state
        if first and not final and info.status == "running" and not info.interrupt_action:
            return  # a running process with nothing pending: nothing to say yet
        self.print_status(info)

    def print_status(self, info: ProcessInfo) -> None:
        if self.json_:
            row: dict[str, Any] = {"process_name": info.name, "event": "status"}
            row.update(status=info.status, request=info.interrupt_action, at=_status_time(info))
            row.update(by=info.interrupt_request or info.stopped_by, error=info.error)
            if info.unreached_action:  # asked for, but no checkpoint reached it
                row.update(unreached=info.unreached_action, unreached_by=info.unreached_by)
            print_json_line(row)
        else:
            self.print_line(_status_words(info), _status_time(info))

    def print_line(self, words: str, at: float | None) -> None:
        if self.json_:
            print_json_line({"process_name": self.name, "event": "status", "status": words})
        else:
            print(f"# ── process {self.name} {words} · {when(at or time.time())} ──", flush=True)


def _status_time(info: ProcessInfo) -> float | None:
    if info.status in FINAL_STATUSES:
        return info.ended_at or info.heartbeat_at
    if info.interrupt_action and info.status != "paused":
        return getattr(info, "interrupt_requested_at", None)
    if info.status == "paused":
        return getattr(info, "paused_at", None)
    return time.time()


def _status_words(info: ProcessInfo) -> str:
    unreached = unreached_text(info, who=True)
    if info.status in FINAL_STATUSES and unreached:
        return f"{_status_words(replace(info, unreached_action=None))} ({unreached})"
    if info.status == "paused":
        extra = " (stop requested)" if info.interrupt_action == "stop" else ""
        return f"paused{extra}"
    if info.status == "running" and info.interrupt_action:
        return f"{info.interrupt_action} requested by {info.interrupt_request or '?'}"
    if info.status == "running":
        return "running (resumed)"
    if info.status == "stopped" and info.stopped_by:
        return f"stopped by {info.stopped_by}"
    if info.status == "crashed":
        return "crashed (its heartbeat expired)"
    return info.status


def _outage_note(error: Exception | None) -> None:
    """Like ``tail -F``: a lost connection is noted and retried, not the end."""
    note(f"{PROG}: {error}; retrying (Ctrl-C to end)" if error else f"{PROG}: reconnected")
