"""The typed replies of the Lua scripts, built from their raw replies by :mod:`scripts`."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, NamedTuple


class Registered(NamedTuple):
    """``register``: the run's counters, or who holds the name."""

    held_by: str  # the token of the live run holding the name, or "" when registered
    run: int = 0
    code_count: int = 0
    code_length: int = 0
    request_seq: int = 0

    @classmethod
    def parse(cls, reply: list[Any]) -> Registered:
        if reply[0] == "held":
            return cls(str(reply[1]))
        return cls("", *(int(x) for x in reply[1:5]))


class Heartbeat(NamedTuple):
    """``heartbeat`` and ``revive``: what happened, and the request state read with it."""

    # heartbeat: beat | missing (record gone: revive) | crashed (given up for dead
    # while alive: revive) | ended | taken (another run holds the name); revive:
    # restored | revived | kept | ended | taken
    outcome: str
    epoch: str  # the record's epoch (the request state's generation)
    request_seq: int
    request: str | None  # the pending request's JSON, when well formed

    @property
    def beat(self) -> bool:
        """The heartbeat was refreshed (or the record put back)."""
        return self.outcome in ("beat", "restored", "revived")

    @classmethod
    def parse(cls, reply: list[Any]) -> Heartbeat:
        return cls(str(reply[0]), str(reply[1]), int(reply[2]), reply[3] or None)


class RequestState(NamedTuple):
    """``request_state``: the epoch, the last request's sequence number and the
    pending request."""

    epoch: str
    request_seq: int
    request: str | None  # the pending request's JSON, when well formed

    @classmethod
    def parse(cls, reply: list[Any]) -> RequestState:
        return cls(str(reply[0]), int(reply[1]), reply[2] or None)


class Held(NamedTuple):
    """The request state a run acts on, sent with each heartbeat so the server can
    tell when it lost or reset it."""

    epoch: str
    seq: int  # the last request applied
    action: str  # the pending request: "", "stop" or "pause"
    by: str  # who asked for it


class Revival(NamedTuple):
    """``revive``'s arguments: how a live run puts its record back."""

    ttl: float  # heartbeat TTL, seconds
    epoch: str  # the new epoch the request state starts over in
    status: str  # running | paused: what the run is doing now
    held: Held  # its pending request is written back
    open_code: str  # the index of its open code item, or ""
    last_beat: float  # its last heartbeat that reached the server (epoch s): the gap's start
    fields: dict[str, str]  # the record, written when it vanished


class Finished(NamedTuple):
    """``finish``: what happened to the final status."""

    # set | kept (a final status was there, or another run holds the name) | alive
    # (only_if_expired, and the heartbeat had not) | missing (no record)
    outcome: str
    status: str  # the status now

    @classmethod
    def parse(cls, reply: list[Any]) -> Finished:
        return cls(str(reply[0]), str(reply[1]))


class RequestReply(NamedTuple):
    """``request``: the request's sequence number, or why it was refused."""

    seq: int  # 0 when refused
    status: str  # the target's status ("" when refused: see ``detail``)
    refused: str = ""  # "" or not_found | ended | not_alive | conflict | not_paused
    detail: str = ""  # ended, not_alive, not_paused: the status; conflict: its action
    by: str = ""  # conflict: who asked for the pending request

    @classmethod
    def parse(cls, reply: list[Any]) -> RequestReply:
        if reply[0] == "err":
            return cls(0, "", str(reply[1]), str(reply[2]), str(reply[3]))
        return cls(int(reply[1]), str(reply[2]))


class Withdrawn(NamedTuple):
    """``withdraw``: the request withdrawn, or why nothing was."""

    seq: int  # the new request_seq; 0 when refused
    action: str  # the withdrawn request's action (stop | pause); refused: see detail
    by: str  # who had asked for it
    requested_at: float | None = None
    refused: str = ""  # "" or not_found | ended | nothing_pending | acted_on
    detail: str = ""  # ended, nothing_pending: the status; acted_on: the action

    @classmethod
    def parse(cls, reply: list[Any]) -> Withdrawn:
        if reply[0] == "err":
            return cls(0, "", str(reply[3]), None, str(reply[1]), str(reply[2]))
        at = str(reply[4])
        return cls(int(reply[1]), str(reply[2]), str(reply[3]), float(at) if at else None)


@dataclass(frozen=True)
class Appended:
    """``record_append``: the record's index, or why nothing was written."""

    outcome: str  # ok | missing (and not created) | columns (the list has others)
    # | index (the index asked for is past the end)
    index: int = -1  # the record's index; -1 when the call only created the list
    created: bool = False
    columns: list[str] | None = None  # outcome "columns": the list's columns
    length: int = 0  # outcome "index": how many records the list has
    # outcome "dup": the writer's retried write had been applied already
    count: int = 1  # outcome "ok" of record_append_many: how many records it wrote

    @classmethod
    def parse(cls, reply: list[Any]) -> Appended:
        if reply[0] == "ok":
            count = int(reply[3]) if len(reply) > 3 else 1
            return cls("ok", int(reply[1]), bool(int(reply[2])), count=count)
        if reply[0] == "columns":
            return cls("columns", columns=list(json.loads(reply[1])))
        if reply[0] == "index":
            return cls("index", length=int(reply[1]))
        return cls(str(reply[0]))


def flag(reply: Any) -> bool:
    """The scripts that answer 1 (done) or 0 (nothing to do)."""
    return bool(int(reply))


class Pruned(NamedTuple):
    """``prune_process``: whether the process was (or, dry, would be) pruned."""

    outcome: str  # ok | missing | live | recent | changed
    detail: str = ""  # live: its status; recent: its ended_at

    @classmethod
    def parse(cls, reply: list[Any]) -> Pruned:
        return cls(str(reply[0]), str(reply[1]) if len(reply) > 1 else "")
