"""The rows of the comparison: which system's measurement, its label, and the
figures of the run the comparison was first reported with (issue 11)."""

from __future__ import annotations

from typing import NamedTuple


class Path(NamedTuple):
    name: str
    system: str
    metric: str
    label: str
    old_idle: str
    old_busy: str


PATHS = [
    Path(
        "lib_stop_to_raised",
        "lib_stop",
        "raised_from_call",
        "this library: `stop_execution()` called -> `ExecutionStopped` raised",
        "1.6 / 2.0 / 3.0",
        "7.1 / 12.4 / 16.5",
    ),
    Path(
        "lib_stop_call",
        "lib_stop",
        "call",
        "this library: the `stop_execution()` call itself",
        "0.80 / 0.92 / 1.6",
        "0.80 / 0.94 / 1.1",
    ),
    Path(
        "lib_stop_to_exit",
        "lib_stop",
        "exit_from_return",
        "this library: stop returned -> worker process exited",
        "69 / 89 / 96",
        "81 / 98 / 111",
    ),
    Path(
        "lib_raised_to_exit",
        "lib_stop",
        "exit_from_raised",
        "this library: `ExecutionStopped` raised -> worker process exited",
        "",
        "",
    ),
    Path(
        "lib_pause_returned_to_paused",
        "lib_pause",
        "paused_from_return",
        "this library: pause returned -> paused at a checkpoint",
        "0.59 / 0.96 / 1.1",
        "9.3 / 12.0 / 17.2",
    ),
    Path(
        "lib_pause_to_paused",
        "lib_pause",
        "paused_from_call",
        "this library: `pause_execution()` called -> paused at a checkpoint",
        "",
        "",
    ),
    Path(
        "rq_stop_to_gone",
        "rq",
        "gone_from_call",
        "RQ `send_stop_job_command` called -> work horse gone (SIGKILL, not cooperative)",
        "5.0 / 6.4 / 15.3",
        "3.7 / 5.8 / 9.9",
    ),
    Path(
        "celery_revoke_to_gone",
        "celery",
        "gone_from_call",
        "Celery `revoke(terminate=True)` called -> child gone",
        "8.2 / 9.6 / 11.1",
        "7.1 / 10.1 / 20.5",
    ),
    Path(
        "dramatiq_abort_returned_to_observed",
        "dramatiq",
        "observed_from_return",
        "dramatiq-abort, cooperative: `abort()` returned -> observed",
        "0.08 / 0.78 / 1.1 (after a 1.2 ms call)",
        "6.2 / 10.9 / 12.3",
    ),
    Path(
        "dramatiq_abort_to_observed",
        "dramatiq",
        "observed_from_call",
        "dramatiq-abort, cooperative: `abort()` called -> observed",
        "",
        "",
    ),
    Path(
        "poll_get_to_observed",
        "poll",
        "observed_from_call",
        "polling one Redis `GET` per iteration: `INCR` called -> observed",
        "0.77 / 1.1 / 1.2",
        "0.78 / 1.4 / 2.0",
    ),
]

# The targets of issue 11 that these measurements check: path -> mode -> (p50, p99).
TARGETS: dict[str, dict[str, tuple[float, float | None]]] = {
    "lib_stop_to_raised": {"idle": (0.5, None), "busy": (1.0, 5.0)},
    "lib_pause_to_paused": {"busy": (1.0, 5.0)},
}
CHECKPOINT_VS_EVENT_MAX = 1.2
