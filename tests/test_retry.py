"""One definition of a transient error and one backoff, shared by every retry loop."""

from __future__ import annotations

import pytest
import redis
import redis.exceptions as rex

from tablevault_redis.connection import translate
from tablevault_redis.errors import CorruptDataError, VaultConnectionError
from tablevault_redis.retry import Backoff, is_refused, is_transient

TRANSIENT = [
    rex.ConnectionError("Error 111 connecting to 127.0.0.1:1. Connection refused."),
    rex.TimeoutError("Timeout reading from socket"),
    rex.BusyLoadingError("Redis is loading the dataset in memory"),
    rex.ReadOnlyError("You can't write against a read only replica."),
    rex.ClusterDownError("The cluster is down"),
    rex.MasterDownError("Link with MASTER is down and replica-serve-stale-data is set to 'no'."),
    rex.TryAgainError("Multiple keys request during rehashing of slot"),
    rex.OutOfMemoryError("command not allowed when used memory > 'maxmemory'."),
    ConnectionResetError(104, "Connection reset by peer"),
    # Redis 6.2 wraps an error raised inside a script in a generic ResponseError.
    rex.ResponseError(
        "Error running script (call to f_0123): @user_script:7: @user_script: 7: "
        "-READONLY You can't write against a read only replica."
    ),
    rex.ResponseError("NOREPLICAS Not enough good replicas to write."),
    VaultConnectionError("cannot reach Redis at redis://h:1/0: refused", transient=True),
]

PERMANENT = [
    rex.ResponseError("WRONGTYPE Operation against a key holding the wrong kind of value"),
    rex.ResponseError("ERR unknown command 'FOO'"),
    rex.NoScriptError("No matching script."),
    rex.AuthenticationError("invalid username-password pair or user is disabled."),
    rex.AuthorizationError("NOPERM this user has no permissions"),
    rex.NoPermissionError("this user has no permissions to run the 'set' command"),
    rex.ResponseError("NOAUTH Authentication required."),
    rex.DataError("Invalid input of type: 'dict'."),
    VaultConnectionError("Redis at redis://h:1/0 refused access: WRONGPASS"),
    ValueError("LOADING appears in the text of an error that is not Redis's"),
]


@pytest.mark.parametrize("error", TRANSIENT, ids=repr)
def test_transient_errors(error):
    assert is_transient(error)


@pytest.mark.parametrize("error", PERMANENT, ids=repr)
def test_permanent_errors(error):
    assert not is_transient(error)


def test_refused_access():
    assert is_refused(rex.AuthenticationError("invalid username-password pair"))
    assert is_refused(rex.ResponseError("WRONGPASS invalid username-password pair"))
    assert is_refused(rex.NoPermissionError("no permissions"))
    assert not is_refused(rex.ConnectionError("Connection refused"))


def test_translate_keeps_the_verdict():
    url = "redis://bob:secret@h:1/0"
    cases = [
        (rex.ConnectionError("refused"), True, "cannot reach Redis at redis://bob:***@h:1/0"),
        (rex.ReadOnlyError("read only replica"), True, "cannot serve this now"),
        (rex.AuthenticationError("invalid password"), False, "refused access"),
        (rex.ResponseError("NOPERM no permissions"), False, "refused access"),
        (rex.RedisClusterException("Cluster mode is not enabled"), False, "cannot reach"),
    ]
    for raw, transient, text in cases:
        with pytest.raises(VaultConnectionError) as info, translate(url):
            raise raw
        assert info.value.transient is transient and is_transient(info.value) is transient
        assert text in str(info.value) and "secret" not in str(info.value)
    # The caller's own mistakes are not connection errors: they pass through as they are.
    with pytest.raises(rex.ResponseError, match="ERR wrong number"), translate(url):
        raise rex.ResponseError("ERR wrong number of arguments")
    # A key of another type than the library writes is corrupt data, not a connection
    # error either: a library error saying so.
    with pytest.raises(CorruptDataError, match="WRONGTYPE") as corrupt, translate(url):
        raise rex.ResponseError("WRONGTYPE Operation against a key holding the wrong kind")
    assert not isinstance(corrupt.value, VaultConnectionError)


def test_backoff_doubles_up_to_the_maximum_and_resets():
    b = Backoff(start=0.05, maximum=1.0)
    assert [b.next() for _ in range(7)] == [0.05, 0.1, 0.2, 0.4, 0.8, 1.0, 1.0]
    assert b.failures == 7
    b.reset()
    assert b.failures == 0 and b.next() == 0.05


def test_backoff_never_overflows():
    b = Backoff(start=0.01, maximum=2.0, factor=10)
    for _ in range(5000):  # a retry loop that has run for days
        delay = b.next()
    assert delay == 2.0


def test_backoff_jitter_stays_within_its_share():
    b = Backoff(start=1.0, maximum=1.0, jitter=0.5)
    delays = [b.next() for _ in range(200)]
    assert all(0.5 <= d <= 1.0 for d in delays)
    assert len(set(delays)) > 1


@pytest.mark.parametrize(
    "kwargs", [{"start": 0}, {"start": 2, "maximum": 1}, {"factor": 0.5}, {"jitter": 2}]
)
def test_backoff_refuses_nonsense(kwargs):
    with pytest.raises(ValueError, match="backoff needs"):
        Backoff(**kwargs)


# ----------------------------------------------------------- real server replies


def test_replies_of_a_server_that_cannot_write_now_are_transient(fresh_redis):
    """READONLY (a demoted primary) and OOM, straight and from inside a script."""
    admin = fresh_redis.client()
    r = redis.Redis.from_url(fresh_redis.url)
    script = "return redis.call('SET', KEYS[1], 'v')"
    try:
        admin.execute_command("REPLICAOF", "127.0.0.1", "1")  # read-only, never syncs
        for call in (lambda: r.set("k", "v"), lambda: r.eval(script, 1, "k")):
            with pytest.raises(rex.ResponseError) as info:
                call()
            assert is_transient(info.value), repr(info.value)
        admin.execute_command("REPLICAOF", "NO", "ONE")
        admin.config_set("maxmemory", "1")
        for call in (lambda: r.set("k", "v"), lambda: r.eval(script, 1, "k")):
            with pytest.raises(rex.ResponseError) as info:
                call()
            assert is_transient(info.value), repr(info.value)
        admin.config_set("maxmemory", "0")
        admin.set("k", "a string")
        with pytest.raises(rex.ResponseError) as info:
            r.eval("return redis.call('HGET', KEYS[1], 'f')", 1, "k")  # WRONGTYPE
        assert not is_transient(info.value)
    finally:
        admin.close()
        r.close()
