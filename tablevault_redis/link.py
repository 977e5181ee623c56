"""One connection per worker: every thread's commands and the control channel's
notifications share one RESP3 socket (standalone and Sentinel servers).

Why: with a connection for commands and one for notifications, one Redis served at
most half as many workers as its ``maxclients``, and each connection costs the server
memory. RESP3 carries pushes (``message``, ``subscribe``) and replies on one connection.

How: :class:`Link` owns one redis-py connection and a reader thread. Writers from
any thread pack their commands and send them under a lock that also queues one reply
slot per command, so the n-th reply parsed fills the n-th slot. Pushes go to
``on_push`` instead. Parsing takes a read lock: the reader thread polls the socket
without it and parses what arrives, and two others may take a turn when the lock is
free, saving a switch between threads: a checkpoint's quick call, which reads its
own reply, and the main thread's signal handler (:mod:`link_wakeup`). A caller waits
on its slot for at most its timeout; a reply overdue past the socket timeout means
the connection is dead: its socket is shut down, the reader fails every waiting slot
with a (transient) ``ConnectionError``, reconnects with backoff and calls
``on_connect`` (the listener subscribes again and reads the request key). While it
is down, a command fails at once with the same transient error: the outbox and the
callers retry as they do on any outage. :mod:`link_pool` puts a ``redis.Redis`` on
top. Blocking commands never go over the link (see :mod:`link_pool`). The reader
also calls ``on_tick`` every ``tick`` seconds, so a periodic call (the heartbeat,
:mod:`beat`) wakes only this thread.
"""

from __future__ import annotations

import collections
import contextlib
import logging
import os
import select
import selectors
import socket
import threading
import time
from collections.abc import Callable
from typing import Any

import redis
import redis.exceptions

from . import _redis_compat
from .link_slots import Callback, Latch, Push, Slot
from .retry import Backoff, is_transient

__all__ = ["Callback", "Latch", "Link", "Push", "Slot"]

logger = logging.getLogger(__name__)

_IDLE_POLL = 60.0  # seconds the reader waits in one poll before it polls again
_TURN = 0.005  # seconds a quick call's wait holds the read lock in one poll


class Link:
    """One RESP3 connection shared by every thread of this process (see the module
    docstring). ``make`` builds an unconnected redis-py connection speaking RESP3."""

    def __init__(
        self, make: Callable[[], Any], socket_timeout: float, tick: float | None = None
    ) -> None:
        self._make = make
        self.timeout = socket_timeout
        # The reader calls on_tick every ``tick`` seconds (the lean heartbeat, see
        # beat.py). Fixed before the reader starts, so no other thread needs to wake
        # it: its polls never outlast the next tick.
        self.tick = tick
        self.on_tick: Callable[[], None] = lambda: None
        self._due = time.monotonic() + (tick or _IDLE_POLL)
        self._lock = threading.Lock()  # sends and the slot queue: their orders match
        self._read_lock = threading.Lock()  # one thread at a time parses
        self.pumper = 0  # the thread parsing right now (its ident), or 0
        self._selector: Any = None  # an epoll object (Linux) or a selector
        self._slots: collections.deque[Slot] = collections.deque()
        self._conn: Any = None
        self._sock: socket.socket | None = None
        self._halt = threading.Event()
        self._thread: threading.Thread | None = None
        # A push (its message) -> what to do once on_parsed ran (or None): the fast
        # path's wait ends before the listener sends anything.
        self.on_push: Callable[[list[Any]], Callable[[], None] | None] = lambda message: None
        self.on_connect: Callable[[], None] = lambda: None
        self.on_disconnect: Callable[[], None] = lambda: None
        self.on_transient: Callable[[], None] = lambda: None  # after a failover: rediscover
        self.on_parsed: Callable[[], None] = lambda: None  # each message parsed
        self.last_error = ""
        self.last_seen = 0.0  # time.time() of the last message parsed
        self._pid = os.getpid()  # a forked child must not shut the parent's socket down

    # -- connecting: the caller's thread at start, then the reader thread --------

    def open(self) -> None:
        """Connect now (raising what the connection raises) and start the reader."""
        self._connect()
        self._thread = threading.Thread(target=self._run, name="tablevault-link", daemon=True)
        self._thread.start()

    def _connect(self) -> None:
        conn = self._make()
        try:
            conn.connect()
            parser = conn._parser
            parser.pubsub_push_handler_func = Push
            parser.invalidation_push_handler_func = Push
            sock = conn._sock
            # Reads start once poll() says bytes are there; the rest of a message
            # must follow within the socket timeout.
            sock.settimeout(self.timeout)
        except BaseException:
            with contextlib.suppress(Exception):
                conn.disconnect()
            raise
        selector: Any
        if hasattr(select, "epoll"):  # Linux: each poll one C call (one at every wake)
            selector = select.epoll(1)
            selector.register(sock.fileno(), select.EPOLLIN)
        else:
            selector = selectors.DefaultSelector()
            selector.register(sock, selectors.EVENT_READ)
        with self._lock:
            self._conn, self._sock, self._selector = conn, sock, selector

    @property
    def sock(self) -> socket.socket | None:
        return self._sock

    @property
    def connected(self) -> bool:
        return self._sock is not None

    # -- sending: any thread ------------------------------------------------------

    def pack(self, *args: Any) -> list[bytes]:
        conn = self._conn
        if conn is None:
            raise redis.exceptions.ConnectionError("Redis connection closed")
        return list(conn.pack_command(*args))

    def pack_many(self, commands: list[tuple[Any, ...]]) -> list[bytes]:
        conn = self._conn
        if conn is None:
            raise redis.exceptions.ConnectionError("Redis connection closed")
        return list(conn.pack_commands(commands))

    def send(
        self, packed: list[bytes], replies: int, callback: Callback | None = None
    ) -> list[Slot]:
        """Send ``packed`` (``replies`` commands; 0 for SUBSCRIBE, answered by a push);
        their slots, in order. A transient ``ConnectionError`` while disconnected."""
        slots = [Slot(callback) for _ in range(replies)]
        with self._lock:
            sock = self._sock
            if sock is None:
                raise redis.exceptions.ConnectionError("Redis connection lost; reconnecting")
            self._slots.extend(slots)
            try:
                for chunk in packed:
                    _send_all(sock, chunk)
            except OSError as e:
                self._shutdown(sock)  # the reader fails the slots and reconnects
                raise redis.exceptions.ConnectionError(f"writing to Redis failed: {e}") from None
        return slots

    def wait(self, slot: Slot, timeout: float, pump: bool = False) -> Any:
        """The reply in ``slot`` (an error reply is returned, not raised);
        ``TimeoutError`` after ``timeout`` s. A reply overdue past the socket timeout
        ends the connection (see the module docstring). ``pump``: the caller reads
        the reply itself when no other thread is reading (a checkpoint's quick call)."""
        deadline = time.monotonic() + timeout
        if pump:
            self._wait_pumping(slot, deadline)
        if not slot.done.wait(deadline - time.monotonic()):
            if time.monotonic() - slot.sent_at >= self.timeout:
                self.restart()
            raise redis.exceptions.TimeoutError(f"no reply from Redis within {timeout} s")
        if slot.error is not None:
            raise slot.error
        return slot.value

    def _wait_pumping(self, slot: Slot, deadline: float) -> None:
        while not slot.done.is_set():
            left = deadline - time.monotonic()
            if left <= 0:
                return
            if not self._read_lock.acquire(blocking=False):
                slot.done.wait(min(left, _TURN))  # another thread reads: it fills the slot
                continue
            self.pumper = threading.get_ident()  # the signal handler leaves it to us
            try:
                if self._readable(min(left, _TURN)):
                    self._pump(left)
            except BaseException as e:  # the reader sees it too: it reconnects and fails
                self.restart()  # what waits (this slot too); Ctrl-C mid-parse may have
                if not isinstance(e, Exception):  # lost a reply: raised on
                    raise
                return
            finally:
                self.pumper = 0
                self._read_lock.release()

    def restart(self) -> None:
        """End the connection (a dead peer, a failover): the reader fails what waits
        and reconnects. Safe from any thread."""
        sock = self._sock
        if sock is not None and os.getpid() == self._pid:
            self._shutdown(sock)

    @staticmethod
    def _shutdown(sock: socket.socket) -> None:
        with contextlib.suppress(OSError):  # already closed: nothing to wake
            sock.shutdown(socket.SHUT_RDWR)

    # -- reading: the reader thread -------------------------------------------------

    def _run(self) -> None:
        backoff = Backoff()
        while not self._halt.is_set():
            try:
                if self._sock is None:
                    self._connect()
                    self.on_connect()
                if self._readable(self._until_tick()):
                    with self._read_lock:
                        self.pumper = threading.get_ident()
                        try:
                            self._pump_polled()
                        finally:
                            self.pumper = 0
                backoff.reset()
            except Exception as e:  # never let the thread die: reconnect instead
                self._lost(e)
                if is_transient(e):
                    self.on_transient()
                self._halt.wait(backoff.next())
            # Also while disconnected: the heartbeat then fails, and is retried as
            # every write is through an outage (see beat.py).
            if self.tick and time.monotonic() >= self._due and not self._halt.is_set():
                self._tick(self.tick)
        self._lost(redis.exceptions.ConnectionError("Redis connection closed"))

    def _tick(self, every: float) -> None:
        self._due = time.monotonic() + every
        try:
            self.on_tick()
        except Exception:  # its own failure: never a reason to reconnect
            logger.exception("tablevault-redis: the link's tick failed")

    def _until_tick(self) -> float:
        return min(_IDLE_POLL, max(0.0, self._due - time.monotonic())) if self.tick else _IDLE_POLL

    def defer_tick(self, due: float | None = None) -> None:
        """The next tick at monotonic ``due`` (default: one tick from now), or at
        once when ``due`` is 0: later from any thread (the reader wakes at the old
        time, sees the new one and polls again); sooner only from the reader thread
        (its next poll) or when it is next woken."""
        self._due = time.monotonic() + (self.tick or 0.0) if due is None else due

    def _readable(self, timeout: float) -> bool:
        """Bytes to parse: buffered, or arriving within ``timeout`` s. A poll, not a
        blocking recv(): a thread blocked in recv() keeps the kernel from signalling
        (see link_wakeup), and any thread may take its turn at reading."""
        conn, selector = self._conn, self._selector
        if conn is None or selector is None:
            raise redis.exceptions.ConnectionError("Redis connection lost")
        if _redis_compat.buffered(conn):
            return True
        poll = getattr(selector, "poll", None)  # epoll; a selector has select() only
        return bool(poll(timeout, 1) if poll is not None else selector.select(timeout))

    def _pump(self, part_timeout: float | None) -> None:
        """Holding the read lock (``pumper`` set): parse every complete message there is. One not
        complete within ``part_timeout`` s (None: the socket timeout) stays buffered."""
        while self._sock is not None and self._readable(0) and self._read_one(part_timeout):
            pass

    def _pump_polled(self) -> None:
        """The reader's :meth:`_pump` after its poll found bytes: no poll after the
        last message (its next poll is that check). One before the first: another
        thread may have parsed them before this one got the read lock, and a read
        of nothing would wait out the socket timeout."""
        conn = self._conn
        if not self._readable(0):
            return
        while self._read_one(None) and self._conn is conn and _redis_compat.buffered(conn):
            pass

    def pump_now(self, part_timeout: float) -> bool:
        """Parse what has arrived in the calling thread (a signal handler, a quick
        call's wait), saving a switch to the reader thread. Only when no thread reads
        and none sends right now (a callback may send); False when it did not."""
        if self._lock.locked() or not self._read_lock.acquire(blocking=False):
            return False
        self.pumper = threading.get_ident()
        try:
            self._pump(part_timeout)
        except BaseException as e:  # the reader sees it too, and reconnects
            self.restart()
            if not isinstance(e, Exception):  # interrupted mid-parse: see _wait_pumping
                raise
        finally:
            self.pumper = 0
            self._read_lock.release()
        return True

    def _read_one(self, part_timeout: float | None) -> bool:
        conn = self._conn
        extra = {} if part_timeout is None else {"timeout": part_timeout}
        try:
            reply = conn.read_response(push_request=True, disconnect_on_error=False, **extra)
        except redis.exceptions.TimeoutError:
            return False  # what was read so far stays buffered
        except (redis.exceptions.ResponseError, redis.exceptions.BusyLoadingError) as e:
            reply = e  # a reply that is an error: its command's, not the connection's
        self.last_seen = time.time()
        then = None
        if isinstance(reply, Push):
            then = self.on_push(list(reply))
        else:
            slot = self._next_slot()
            while slot.errors_only and not isinstance(reply, Exception):
                slot.fill(None)  # it succeeded: the reply is the next command's
                slot = self._next_slot()
            slot.fill(reply)
        self.on_parsed()
        if then is not None:
            then()
        return True

    def _next_slot(self) -> Slot:
        # No lock: a deque's popleft is atomic, and the main thread may hold the
        # lock (sending) while its signal handler waits for this parse.
        try:
            return self._slots.popleft()
        except IndexError:
            raise redis.exceptions.ConnectionError("a reply no command awaits") from None

    def subscribe(self, command: str, channel: str, callback: Callback) -> None:
        """Send ``command`` (SUBSCRIBE or SSUBSCRIBE): its confirmation is a push; a
        refusal is an error reply, told apart by the PING sent with it, and given to
        ``callback`` (None when it succeeded)."""
        packed = self.pack_many([(command, channel), ("PING",)])
        with self._lock:
            sock = self._sock
            if sock is None:
                raise redis.exceptions.ConnectionError("Redis connection lost; reconnecting")
            self._slots.extend([Slot(callback, errors_only=True), Slot()])
            try:
                for chunk in packed:
                    sock.sendall(chunk)
            except OSError as e:
                self._shutdown(sock)
                raise redis.exceptions.ConnectionError(f"writing to Redis failed: {e}") from None

    def _lost(self, error: Exception) -> None:
        """The connection failed or is closing: close it, fail every waiting slot."""
        if self._conn is not None and not is_transient(error) and repr(error) != self.last_error:
            self.last_error = repr(error)
            logger.warning("tablevault-redis: connection error, reconnecting: %r", error)
        with contextlib.suppress(Exception):
            self.on_disconnect()  # before the socket closes (see wakeup.py)
        # Not while another thread parses (a quick call's wait, the signal handler:
        # a few ms at most); never waits on the reader thread, which calls this.
        reading = self._read_lock.acquire(timeout=1.0)
        with self._lock:
            conn, slots, selector = self._conn, list(self._slots), self._selector
            self._conn = self._sock = self._selector = None
            self._slots.clear()
        if reading:
            self._read_lock.release()
        if selector is not None:
            with contextlib.suppress(Exception):
                selector.close()
        if conn is not None:
            with contextlib.suppress(Exception):
                conn.disconnect()
        lost = redis.exceptions.ConnectionError(f"Redis connection lost: {error}")
        for slot in slots:
            slot.fill(None, lost)

    def close(self, timeout: float = 2.0) -> None:
        """Stop the reader and close the connection; what still waits fails."""
        self._halt.set()
        self.restart()
        thread = self._thread
        if thread is not None and thread.is_alive() and threading.current_thread() is not thread:
            thread.join(timeout)
        if thread is None or not thread.is_alive():
            self._lost(redis.exceptions.ConnectionError("Redis connection closed"))


def _send_all(sock: socket.socket, data: Any) -> None:
    """``sock.sendall(data)``, without the poll a socket with a timeout makes before
    each send: the kernel nearly always takes a command whole, at once."""
    sent = 0
    if sock.gettimeout():  # a non-blocking descriptor: write() never waits
        with contextlib.suppress(BlockingIOError):
            sent = os.write(sock.fileno(), data)
    if sent < len(data):
        sock.sendall(memoryview(data)[sent:])
