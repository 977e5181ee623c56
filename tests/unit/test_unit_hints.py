"""ControlState's hints: a notification's announced request, acted on only once the
checkpoint's own script verified it (control.py; link_listener.py hands them in)."""

from __future__ import annotations

import threading

import pytest
from helpers import wait_until

from tablevault_redis.control import ControlState
from tablevault_redis.errors import ExecutionStopped


class Verifier:
    """Answers a checkpoint's verification as the ``ack`` script would, recording it."""

    def __init__(self, answer: str) -> None:
        self.answer = answer
        self.calls: list[tuple[str, int, str]] = []

    def __call__(self, kind: str, seq: int, by: str) -> str:
        self.calls.append((kind, seq, by))
        return self.answer


def make(answer: str) -> tuple[ControlState, Verifier, list[tuple[str, int, str]]]:
    reports: list[tuple[str, int, str]] = []
    state = ControlState(seq=5, report=lambda *r: reports.append(r), epoch="e1")
    verifier = Verifier(answer)
    state.verify = verifier
    return state, verifier, reports


def test_a_verified_stop_hint_raises_after_one_verification():
    state, verifier, reports = make("stopping")
    assert state.hint("e1", 6, "stop", "ops")
    assert state.pending == "stop"
    with pytest.raises(ExecutionStopped):
        state.act()
    assert verifier.calls == [("stopping", 6, "ops")]
    assert state.stopped_by == "ops" and reports == []  # the verification recorded it
    with pytest.raises(ExecutionStopped):  # and it keeps raising, verified once
        state.act()
    assert len(verifier.calls) == 1


@pytest.mark.parametrize("answer", ["running", "superseded", ""])
@pytest.mark.parametrize("action", ["stop", "pause"])
def test_a_hint_the_server_does_not_confirm_changes_nothing(answer, action):
    """Forged, withdrawn, or Redis silent: one verification, then the checkpoint runs
    on, and later checkpoints do no I/O."""
    state, verifier, reports = make(answer)
    assert state.hint("e1", 6, action, "forger")
    state.act()
    assert state.pending is None and state.seq == 5 and reports == []
    assert len(verifier.calls) == 1
    # The real request 6 still applies afterwards: the hint made nothing look old.
    assert state.apply(6, "pause", "ops")


def test_hints_from_another_epoch_old_or_of_other_actions_are_ignored():
    state, _verifier, _reports = make("stopping")
    assert not state.hint("other", 6, "stop", "x")
    assert not state.hint("e1", 5, "stop", "x")
    assert not state.hint("e1", 6, "resume", "x")
    assert state.pending is None


def test_a_read_after_the_notification_drops_a_hint_it_does_not_confirm():
    state, verifier, _reports = make("stopping")
    state.hint("e1", 9, "stop", "forger")
    state.apply_stored(5, None, "e1")  # the read: nothing pending, counter 5
    state.settle_hint()
    assert state.pending is None
    state.act()
    assert verifier.calls == []


def test_a_read_that_confirms_the_hint_makes_it_the_verified_request():
    state, verifier, reports = make("stopping")
    state.hint("e1", 6, "pause", "ops")
    state.apply(6, "pause", "ops")
    state.settle_hint()
    assert state.pending == "pause"
    thread = threading.Thread(target=state.act)
    thread.start()
    wait_until(lambda: state.waiting, 5)
    state.apply(7, None)
    thread.join(5)
    assert verifier.calls == [] and [r[0] for r in reports] == ["paused", "running"]


def test_a_verified_pause_hint_waits_without_a_second_report_and_reports_running():
    state, verifier, reports = make("paused")
    state.hint("e1", 6, "pause", "ops")
    thread = threading.Thread(target=state.act)
    thread.start()
    wait_until(lambda: state.waiting, 5)
    assert verifier.calls == [("paused", 6, "ops")] and reports == []
    state.apply(7, None)
    thread.join(5)
    assert not thread.is_alive() and [r[0] for r in reports] == ["running"]


def test_a_stop_hint_during_a_pause_is_verified_before_it_raises():
    state, verifier, _reports = make("")
    state.apply(6, "pause", "ops")
    errors: list[BaseException] = []

    def run() -> None:
        try:
            state.act()
        except BaseException as e:
            errors.append(e)

    thread = threading.Thread(target=run)
    thread.start()
    wait_until(lambda: state.waiting, 5)
    state.hint("e1", 7, "stop", "forger")  # unconfirmed: the pause goes on
    wait_until(lambda: verifier.calls and state.pending == "pause", 5)  # shown once verified
    assert thread.is_alive()
    verifier.answer = "stopping"
    state.hint("e1", 7, "stop", "ops")
    thread.join(5)
    assert isinstance(errors[0], ExecutionStopped)


def test_the_heartbeat_compares_the_verified_state_not_a_hint():
    state, _verifier, _reports = make("")
    state.hint("e1", 6, "stop", "forger")
    assert state.held().action == "" and state.held().seq == 5


def test_a_pause_verification_interrupted_by_ctrl_c_reports_running():
    """The server may have recorded the pause before the interrupt: the process runs
    on, so it reports running (a no-op on the server when nothing was recorded)."""
    state, _verifier, reports = make("paused")

    def interrupted(kind: str, seq: int, by: str) -> str:
        raise KeyboardInterrupt

    state.verify = interrupted
    assert state.hint("e1", 6, "pause", "ops")
    with pytest.raises(KeyboardInterrupt):
        state.act()
    assert reports == [("running", 6, "ops")]


class Read:
    """The listener's read of the request state, in flight until answered."""

    def __init__(self, state: ControlState) -> None:
        self.state = state
        self.in_flight = True
        state.reading = lambda: self.in_flight

    def answer(self, seq: int, raw: str | None) -> None:
        """Its reply: applied, then the hint settled, as link_listener does."""
        self.in_flight = False
        self.state.apply_stored(seq, raw)
        self.state.settle_hint()

    def fail(self) -> None:
        """It ended without a reply (a lost connection)."""
        self.in_flight = False
        self.state.wake()


def _act_in_thread(state: ControlState) -> threading.Thread:
    thread = threading.Thread(target=state.act, daemon=True)
    thread.start()
    return thread


def test_a_pause_hint_is_verified_by_the_read_in_flight_not_a_round_trip_of_its_own():
    state, verifier, reports = make("paused")
    read = Read(state)
    assert state.hint("e1", 6, "pause", "ops")
    thread = _act_in_thread(state)
    read.answer(6, '{"seq": 6, "action": "pause", "by": "ops", "epoch": "e1"}')
    wait_until(lambda: state.waiting, what="the checkpoint to hold the pause")
    assert verifier.calls == []  # no round trip of the checkpoint's own
    assert reports == [("paused", 6, "ops")]  # reported (queued) once held
    state.apply(7, None)  # resumed
    thread.join(2)
    assert not thread.is_alive() and reports[-1] == ("running", 7, "")


def test_a_pause_hint_the_read_does_not_confirm_is_dropped_without_a_round_trip():
    state, verifier, reports = make("paused")
    read = Read(state)
    assert state.hint("e1", 6, "pause", "forger")
    thread = _act_in_thread(state)
    read.answer(5, None)  # the server holds nothing newer: a forged notification
    thread.join(2)
    assert not thread.is_alive()
    assert verifier.calls == [] and reports == [] and state.pending is None


@pytest.mark.parametrize("how", ["fails", "never answers"])
def test_a_pause_hint_whose_read_does_not_answer_is_verified_by_the_checkpoint(how):
    state, verifier, reports = make("paused")
    read = Read(state)
    assert state.hint("e1", 6, "pause", "ops")
    thread = _act_in_thread(state)
    if how == "fails":
        read.fail()
    wait_until(lambda: verifier.calls, what="the checkpoint's own verification")
    assert verifier.calls == [("paused", 6, "ops")]
    wait_until(lambda: state.waiting, what="the checkpoint to hold the pause")
    state.apply(7, None)
    thread.join(2)
    assert not thread.is_alive()


def test_a_stop_hint_is_made_final_by_its_own_round_trip_even_with_a_read_in_flight():
    state, verifier, _reports = make("stopping")
    Read(state)
    assert state.hint("e1", 6, "stop", "ops")
    with pytest.raises(ExecutionStopped):
        state.act()
    assert verifier.calls == [("stopping", 6, "ops")]


def test_a_resume_followed_at_once_by_a_new_pause_reports_running_then_the_new_pause():
    """Both land before the held checkpoint wakes: it must not go on holding the old
    pause silently (a controller waits for the new pause's paused_seq)."""
    state, _verifier, reports = make("paused")
    state.apply(6, "pause", "ops")
    thread = _act_in_thread(state)
    wait_until(lambda: state.waiting, what="the checkpoint to hold the pause")
    with state._cond:  # the waiter cannot look in between
        state.apply(7, None, "")
        state.apply(8, "pause", "ops2")
    wait_until(lambda: ("paused", 8, "ops2") in reports, what="the new pause's report")
    assert reports == [("paused", 6, "ops"), ("running", 8, "ops2"), ("paused", 8, "ops2")]
    state.apply(9, None)
    thread.join(2)
    assert not thread.is_alive() and reports[-1] == ("running", 9, "")


def test_a_checkpoint_in_another_thread_leaves_the_main_threads_acting_mark_alone():
    state, _verifier, _reports = make("stopping")
    state.acting = True  # the main thread is inside act()
    thread = _act_in_thread(state)  # nothing pending: returns at once
    thread.join(2)
    assert state.acting  # the signal handler must still leave the state alone
