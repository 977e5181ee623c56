"""The signal fast path's settings and its refusal to take a signal it does not own,
in one process, no Redis."""

from __future__ import annotations

import signal
import threading

import pytest

from tablevault_redis import Vault, wakeup
from tablevault_redis.errors import ValidationError


@pytest.mark.parametrize("value", ["1", "true", "yes", "on", "", " 1 "])
def test_the_environment_turns_it_on(monkeypatch, value):
    monkeypatch.setenv(wakeup.ENV_FAST_SIGNALS, value)
    assert wakeup.enabled(None) is True


@pytest.mark.parametrize("value", ["0", "false", "no", "off", "OFF"])
def test_the_environment_turns_it_off(monkeypatch, value):
    monkeypatch.setenv(wakeup.ENV_FAST_SIGNALS, value)
    assert wakeup.enabled(None) is False


def test_the_argument_wins_over_the_environment(monkeypatch):
    monkeypatch.setenv(wakeup.ENV_FAST_SIGNALS, "0")
    assert wakeup.enabled(True) is True
    monkeypatch.setenv(wakeup.ENV_FAST_SIGNALS, "1")
    assert wakeup.enabled(False) is False


def test_bad_settings_are_refused_by_name(monkeypatch):
    with pytest.raises(ValidationError, match="fast_signals must be True, False or None"):
        wakeup.enabled("yes")
    monkeypatch.setenv(wakeup.ENV_FAST_SIGNALS, "maybe")
    with pytest.raises(ValidationError, match="TABLEVAULT_FAST_SIGNALS='maybe'"):
        wakeup.enabled(None)
    with pytest.raises(ValidationError, match="fast_signals"):  # before any connection
        Vault("u", "p", redis_url="redis://127.0.0.1:1/0", fast_signals=1)  # type: ignore[arg-type]


@pytest.mark.skipif(not wakeup._signals(), reason="no I/O signals on this platform")
def test_a_handler_already_set_is_left_alone_and_threads_get_no_fast_path():
    sig = wakeup._signals()[-1]  # SIGIO

    def mine(signum: int, frame: object) -> None:
        pass

    previous = signal.signal(sig, mine)
    try:
        assert wakeup.install() == ()
        assert signal.getsignal(sig) is mine
    finally:
        signal.signal(sig, previous)
    found: list[tuple[int, ...]] = []
    thread = threading.Thread(target=lambda: found.append(wakeup.install()))
    thread.start()
    thread.join()
    assert found == [()]


def test_fast_exit_is_off_unless_asked(monkeypatch):
    from tablevault_redis import exiting

    monkeypatch.delenv(exiting.ENV_FAST_EXIT, raising=False)
    assert exiting.enabled(None) is False
    monkeypatch.setenv(exiting.ENV_FAST_EXIT, "1")
    assert exiting.enabled(None) is True
    assert exiting.enabled(False) is False
    monkeypatch.setenv(exiting.ENV_FAST_EXIT, "soon")
    with pytest.raises(ValidationError, match="TABLEVAULT_FAST_EXIT='soon'"):
        exiting.enabled(None)
    with pytest.raises(ValidationError, match="fast_exit must be True, False or None"):
        Vault("u", "p", redis_url="redis://127.0.0.1:1/0", fast_exit="yes")  # type: ignore[arg-type]
