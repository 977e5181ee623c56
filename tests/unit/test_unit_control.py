"""ControlState: the cached request a checkpoint reads, in one process, no Redis."""

from __future__ import annotations

import json
import signal
import threading
from collections.abc import Iterator
from types import FrameType

import pytest
from helpers import wait_until

from tablevault_redis.control import ControlState
from tablevault_redis.errors import ExecutionStopped


class Reports(list[tuple[str, int, str]]):
    """The (kind, seq, by) calls a ControlState made to its reporter."""

    def __call__(self, kind: str, seq: int, by: str) -> None:
        self.append((kind, seq, by))

    def kinds(self) -> list[str]:
        return [kind for kind, _seq, _by in self]


@pytest.fixture
def reports() -> Reports:
    return Reports()


@pytest.fixture
def state(reports: Reports) -> ControlState:
    """A state whose stop confirmations are recorded as ``stopping`` reports."""
    s = ControlState(seq=5, report=reports)
    s.confirm = lambda seq, by: reports("stopping", seq, by) is None
    return s


# --------------------------------------------------------------------------- apply, by seq


def test_only_a_newer_seq_applies(state: ControlState) -> None:
    assert state.pending is None
    assert not state.apply(5, "stop", "same seq")
    assert not state.apply(4, "stop", "older")
    assert state.pending is None and state.seq == 5
    assert state.apply(6, "pause", "alice")
    assert (state.pending, state.seq, state.by) == ("pause", 6, "alice")
    assert not state.apply(6, "stop", "repeated")  # a repeated notification changes nothing
    assert state.pending == "pause"


@pytest.mark.parametrize("action", ["resume", None, "reboot", ""])
def test_resume_and_unknown_actions_clear(state: ControlState, action: str | None) -> None:
    state.apply(6, "pause")
    assert state.apply(7, action, "bob")
    assert state.pending is None and state.seq == 7 and state.by == "bob"


def test_apply_stored_without_a_request_clears_up_to_its_seq(state: ControlState) -> None:
    state.apply(6, "pause")
    assert state.apply_stored(8, None)
    assert state.pending is None and state.seq == 8
    assert not state.apply_stored(8, "")  # nothing newer


def test_apply_stored_takes_the_larger_seq(state: ControlState) -> None:
    raw = json.dumps({"seq": 9, "action": "stop", "by": "carol", "at": 1.0})
    assert state.apply_stored(7, raw)
    assert (state.pending, state.seq, state.by) == ("stop", 9, "carol")
    raw = json.dumps({"seq": 3, "action": "pause"})  # request_seq moved on past it
    assert state.apply_stored(12, raw)
    assert (state.pending, state.seq, state.by) == ("pause", 12, "")


MALFORMED = [
    "not json",
    "[1, 2]",  # not an object
    json.dumps({"action": "stop"}),  # no seq
    json.dumps({"seq": 9}),  # no action
    json.dumps({"seq": "nine", "action": "stop"}),
    json.dumps({"seq": None, "action": "stop"}),
]


@pytest.mark.parametrize("raw", MALFORMED)
def test_malformed_stored_requests_are_ignored(state: ControlState, raw: str) -> None:
    assert not state.apply_stored(3, raw)
    assert (state.pending, state.seq) == (None, 5)


def test_stored_states_apply_in_seq_order_whatever_order_they_arrive(
    state: ControlState,
) -> None:
    """Two threads read the request state; a late read never undoes a newer one."""
    assert state.apply_stored(8, json.dumps({"seq": 8, "action": "stop", "by": "late"}))
    assert not state.apply_stored(7, None)
    assert not state.apply_stored(6, json.dumps({"seq": 6, "action": "pause"}))
    assert (state.pending, state.seq, state.by) == ("stop", 8, "late")
    assert state.apply_stored(9, None)
    assert state.pending is None


@pytest.mark.parametrize("seq", [1.5, float("nan"), float("inf"), True, "9", 10**400])
def test_stored_requests_with_a_seq_that_is_not_an_integer_are_ignored(
    state: ControlState, seq: object
) -> None:
    raw = json.dumps({"seq": seq, "action": "stop"}) if seq != 10**400 else '{"seq": 1e400}'
    assert not state.apply_stored(3, raw)
    assert (state.pending, state.seq) == (None, 5)


def test_there_is_no_way_to_apply_a_notification() -> None:
    """Notifications are hints: the listener reads the request key on one, and the
    state has no method taking a message's payload."""
    assert not hasattr(ControlState, "apply_message")


# --------------------------------------------------------------------------- epochs


def test_states_of_another_epoch_are_ignored(reports: Reports) -> None:
    state = ControlState(seq=5, report=reports, epoch="E1")
    raw = json.dumps({"seq": 1, "action": "stop", "epoch": "E0"})
    assert not state.apply_stored(1, raw, epoch="E0")
    assert not state.apply_stored(9, None, epoch="")
    assert (state.epoch, state.seq, state.pending) == ("E1", 5, None)
    assert state.apply_stored(6, json.dumps({"seq": 6, "action": "pause"}), epoch="E1")
    assert state.pending == "pause"


def test_an_offered_epoch_is_a_new_baseline(reports: Reports) -> None:
    """After data loss the counter starts over: a request with a lower seq than the
    run applied before is new in the new epoch."""
    state = ControlState(seq=40, report=reports, epoch="E1")
    state.apply(41, "pause", "ann")
    state.offer_epoch("E2")
    assert state.apply_stored(1, json.dumps({"seq": 1, "action": "stop", "by": "bob"}), "E2")
    assert (state.epoch, state.seq, state.pending, state.by) == ("E2", 1, "stop", "bob")
    assert not state.apply_stored(41, None, epoch="E1")  # a late read of the old epoch
    assert state.apply_stored(2, None, epoch="E2")
    assert state.held() == ("E2", 2, "", "")


def test_a_new_baseline_keeps_a_stop_but_not_a_pause(reports: Reports) -> None:
    state = ControlState(seq=3, report=reports, epoch="E1")
    state.apply(4, "stop", "carol")
    state.rebase("E2", 0, None)
    assert (state.pending, state.by, state.seq) == ("stop", "carol", 0)
    paused = ControlState(seq=3, report=reports, epoch="E1")
    paused.apply(4, "pause", "dan")
    assert paused.held() == ("E1", 4, "pause", "dan")
    paused.rebase("E2", 0, None)  # the pause is gone from the server: nobody could resume it
    assert paused.pending is None and paused.held() == ("E2", 0, "", "")


# --------------------------------------------------------------------------- act


def test_act_does_nothing_without_a_request(state: ControlState, reports: Reports) -> None:
    state.act()
    assert reports == []


def test_stop_raises_at_every_checkpoint_and_records_who_asked(
    state: ControlState, reports: Reports
) -> None:
    state.apply(6, "stop", "dave")
    assert state.stopped_by == ""  # nothing stopped until a checkpoint acts on it
    for _ in range(3):
        with pytest.raises(ExecutionStopped) as info:
            state.act()
        assert info.value.requested_by == "dave"
    assert state.stopped_by == "dave"
    # Acknowledged once (it can no longer be withdrawn); the outcome is written only
    # when the process ends.
    assert reports == [("stopping", 6, "dave")]


def test_a_stop_outside_a_checkpoint_is_recorded(state: ControlState) -> None:
    state.mark_stopped("SIGTERM")
    assert state.stopped_by == "SIGTERM" and state.pending is None


def act_in_thread(state: ControlState) -> tuple[threading.Thread, list[BaseException]]:
    raised: list[BaseException] = []

    def run() -> None:
        try:
            state.act()
        except BaseException as e:
            raised.append(e)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread, raised


def test_pause_waits_until_resume(state: ControlState, reports: Reports) -> None:
    state.apply(6, "pause", "erin")
    thread, raised = act_in_thread(state)
    wait_until(lambda: reports.kinds() == ["paused"], what="the paused report")
    assert thread.is_alive()  # held at the checkpoint
    state.apply(7, "resume", "frank")
    thread.join(5)
    assert not thread.is_alive() and raised == []
    assert reports == [("paused", 6, "erin"), ("running", 7, "frank")]


def test_stop_while_paused_raises(state: ControlState, reports: Reports) -> None:
    state.apply(6, "pause")
    thread, raised = act_in_thread(state)
    wait_until(lambda: reports.kinds() == ["paused"], what="the paused report")
    state.apply(7, "stop", "gina")
    thread.join(5)
    assert [type(e) for e in raised] == [ExecutionStopped]
    assert reports == [("paused", 6, ""), ("stopping", 7, "gina")] and state.stopped_by == "gina"


def test_a_newer_pause_keeps_it_paused(state: ControlState, reports: Reports) -> None:
    """A newer pause read while paused (a resume and a new pause in one read): held
    on, and reported anew, so the record names the new pause (``paused_seq``)."""
    state.apply(6, "pause")
    thread, _raised = act_in_thread(state)
    wait_until(lambda: reports.kinds() == ["paused"], what="the paused report")
    state.apply(8, "pause")
    wait_until(lambda: len(reports.kinds()) == 3, what="the new pause's report")
    assert thread.is_alive() and reports == [
        ("paused", 6, ""),
        ("running", 8, ""),
        ("paused", 8, ""),
    ]
    state.apply(9, "resume")
    thread.join(5)
    assert not thread.is_alive() and reports.kinds() == ["paused", "running", "paused", "running"]


class Interrupted(Exception):
    pass


@pytest.fixture
def interrupt_while_waiting() -> Iterator[threading.Event]:
    """SIGUSR1 raises :class:`Interrupted` in the main thread, but only while it sits
    in ``Condition.wait``, so it lands inside the paused loop (like Ctrl-C would)."""
    delivered = threading.Event()

    def handler(_signum: int, frame: FrameType | None) -> None:
        if frame is not None and frame.f_code.co_name == "wait" and not delivered.is_set():
            delivered.set()
            raise Interrupted

    previous = signal.signal(signal.SIGUSR1, handler)
    try:
        yield delivered
    finally:
        signal.signal(signal.SIGUSR1, previous)


def test_interrupted_while_paused_reports_running(
    state: ControlState, reports: Reports, interrupt_while_waiting: threading.Event
) -> None:
    state.apply(6, "pause", "hal")
    main = threading.main_thread().ident
    assert main is not None and threading.get_ident() == main

    def interrupter() -> None:
        wait_until(lambda: reports, what="the paused report")
        while not interrupt_while_waiting.wait(0.05):
            signal.pthread_kill(main, signal.SIGUSR1)

    sender = threading.Thread(target=interrupter, daemon=True)
    sender.start()
    with pytest.raises(Interrupted):
        state.act()
    sender.join(5)
    assert reports == [("paused", 6, "hal"), ("running", 6, "hal")]
    assert state.pending == "pause"  # the request stays; the next checkpoint pauses again


# --------------------------------------------------------------------------- consume_stop


def test_consume_stop_ends_only_a_stop_a_checkpoint_raised(state: ControlState) -> None:
    assert state.consume_stop() is None
    state.apply(6, "stop", "ivan")
    assert state.consume_stop() is None  # no checkpoint reached it yet: it stays
    assert state.pending == "stop"
    with pytest.raises(ExecutionStopped):
        state.act()
    assert state.stopped_by == "ivan"
    assert state.consume_stop() == (6, "ivan")
    assert state.pending is None and state.stopped_by == ""  # the kernel goes on
    state.act()  # the next cell runs
    assert state.consume_stop() is None


def test_a_newer_stop_after_a_consumed_one_raises_again(state: ControlState) -> None:
    state.apply(6, "stop")
    with pytest.raises(ExecutionStopped):
        state.act()
    state.consume_stop()
    state.apply(7, "stop", "judy")
    assert state.consume_stop() is None
    with pytest.raises(ExecutionStopped):
        state.act()
    assert state.stopped_by == "judy"
    assert state.consume_stop() == (7, "judy")


def test_a_stop_withdrawn_before_its_first_raise_is_not_acted_on(
    state: ControlState, reports: Reports
) -> None:
    state.confirm = lambda _seq, _by: False  # the server says: withdrawn first
    state.apply(6, "stop", "hal")
    state.act()  # runs on
    state.act()  # and does not ask again for the same stop
    assert state.stopped_by == ""
    state.apply(7, None)  # the withdrawal arrives
    state.act()
    assert reports == []


def _stop_in(epoch: str, seq: int, by: str) -> str:
    return json.dumps({"seq": seq, "action": "stop", "by": by, "epoch": epoch})


def test_a_new_epoch_forgets_a_dismissed_stop(state: ControlState) -> None:
    """Sequence numbers start over in a new epoch: a stop dismissed in the old one
    (withdrawn first) must not make a new stop of the same number be ignored."""
    state.confirm = lambda _seq, _by: False
    state.apply(7, "stop", "bob")
    state.act()  # dismissed
    state.apply(8, None)
    state.offer_epoch("E9")  # a failover to a replica whose counter was 4
    state.apply_stored(4, None, "E9")
    confirmed: list[int] = []
    state.confirm = lambda seq, _by: confirmed.append(seq) or True
    assert state.apply_stored(7, _stop_in("E9", 7, "carol"), "E9")
    with pytest.raises(ExecutionStopped):
        state.act()
    assert confirmed == [7] and state.stopped_by == "carol"


def test_a_new_epoch_forgets_a_consumed_stop(state: ControlState) -> None:
    """A stop a notebook cell consumed, then a new epoch whose stop has the same
    number: that stop is made final (confirmed) before it is raised."""
    state.apply(7, "stop", "ann")
    with pytest.raises(ExecutionStopped):
        state.act()
    assert state.consume_stop() == (7, "ann")
    state.offer_epoch("E9")
    state.apply_stored(4, None, "E9")
    confirmed: list[int] = []
    state.confirm = lambda seq, _by: confirmed.append(seq) or True
    state.apply_stored(7, _stop_in("E9", 7, "bob"), "E9")
    with pytest.raises(ExecutionStopped):
        state.act()
    assert confirmed == [7] and state.stopped_by == "bob"


def test_a_stop_raised_before_a_new_epoch_stays_raised(state: ControlState) -> None:
    """A stop already raised is kept across a new baseline, and not confirmed again."""
    state.apply(7, "stop", "ann")
    with pytest.raises(ExecutionStopped):
        state.act()
    state.confirm = lambda _seq, _by: pytest.fail("confirmed again")
    state.rebase("E9", 2, None)
    with pytest.raises(ExecutionStopped):
        state.act()
    assert state.consume_stop() == (2, "ann")


def test_a_withdrawn_stop_is_not_held_nor_kept_in_a_new_epoch(state: ControlState) -> None:
    """A stop the server says was withdrawn first is not what the run acts on: the
    heartbeat must not write it back, nor a new baseline keep it."""
    state.confirm = lambda _seq, _by: False
    state.apply(7, "stop", "bob")
    state.act()  # dismissed
    assert state.held().action == ""
    state.rebase("E9", 2, None)
    assert state.pending is None and state.held() == ("E9", 2, "", "")
    state.act()  # runs on
