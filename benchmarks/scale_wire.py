"""The wire side of the worker simulation (bench_scale_workers.py): the library's script
calls captured as (script, KEYS, ARGV), and a small asyncio Redis connection (RESP2, or
RESP3 as the library's one connection per worker, :class:`LinkWire`).

Thousands of redis-py asyncio clients in one process cost more Python time than the
server spends on them, which would make the simulator, not Redis, the bottleneck of
the measurement. So a simulated worker speaks RESP itself over ``asyncio.Protocol``
(replies parsed by hiredis, which redis-py already depends on). What it sends is what
the library sends: KEYS and ARGV are built by the library's own typed script functions
(``tablevault_redis.scripts``), captured just before they would reach redis-py, and
the replies are parsed by the library's reply types.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections import deque
from collections.abc import Callable
from typing import Any

import hiredis
import redis

from tablevault_redis.lua_source import source


class Captured(Exception):
    """A script call the library's function would have made: script name, KEYS, ARGV."""

    def __init__(self, name: str, keys: list[str], args: list[Any]) -> None:
        super().__init__(name)
        self.name, self.keys, self.args = name, keys, args


class _CaptureScripts:
    def run(self, name: str, keys: list[str], args: list[Any], client: Any = None) -> Any:
        raise Captured(name, list(keys), list(args))


class _CaptureConnection:
    """Stands in for ``tablevault_redis.connection.Connection``: a standalone server."""

    scripts = _CaptureScripts()
    cluster = False
    publish_command = "PUBLISH"


_CAPTURE = _CaptureConnection()


def capture(script: Callable[..., Any], *args: Any, **kwargs: Any) -> Captured:
    """The (script, KEYS, ARGV) that ``script(conn, *args, **kwargs)`` would run."""
    try:
        script(_CAPTURE, *args, **kwargs)
    except Captured as call:
        return call
    raise RuntimeError(f"{script.__name__} ran no script")


def sha(name: str) -> str:
    """The SHA1 EVALSHA names script ``name`` by (as redis-py's ``Script`` computes it)."""
    if name not in _SHAS:  # computed once: hashing the source per command cost the simulator
        _SHAS[name] = hashlib.sha1(source(name).encode("utf-8")).hexdigest()
    return _SHAS[name]


_SHAS: dict[str, str] = {}


def pack(call: Captured) -> bytes:
    """The EVALSHA of a captured script call in RESP (hiredis packs it in C: packing
    in Python cost the simulator a few microseconds per command)."""
    return hiredis.pack_command(("EVALSHA", sha(call.name), len(call.keys), *call.keys, *call.args))


def eval_parts(call: Captured) -> tuple[bytes, bytes]:
    """The ``EVAL`` of a captured script call, with the script's source, in RESP, in two
    parts: the array header with ``EVAL`` and the source (shared by every call of that
    script and argument count), and the rest. The library's link listener reads the
    request state so, and its lean heartbeat sends its first beat so."""
    tail = hiredis.pack_command((len(call.keys), *call.keys, *call.args))
    count, _, rest = tail.partition(b"\r\n")  # b"*<n>": the array header of the tail
    return _eval_head(call.name, int(count[1:]) + 2), rest


def _eval_head(name: str, count: int) -> bytes:
    if (name, count) not in _HEADS:
        text = source(name).encode("utf-8")
        _HEADS[name, count] = b"*%d\r\n$4\r\nEVAL\r\n$%d\r\n%s\r\n" % (count, len(text), text)
    return _HEADS[name, count]


_HEADS: dict[tuple[str, int], bytes] = {}
Reply = Callable[[Any], None]  # called with the reply, an error reply or a ConnectionError


class Wire(asyncio.Protocol):
    """One Redis connection: commands are pipelined and their replies handed, in order,
    to the callbacks given with them (no future or task per command: the simulated
    workers' hot paths are callbacks); pub/sub messages (``["message", channel,
    data]``) go to ``on_message`` instead."""

    def __init__(self, on_message: Callable[[list[Any]], None] | None = None) -> None:
        self._reader = hiredis.Reader(encoding="utf-8")
        self._waiting: deque[Reply] = deque()
        self._on_message = on_message
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self._reader.feed(data)
        while (reply := self._reader.gets()) is not False:
            if (
                self._on_message is not None
                and isinstance(reply, list)
                and reply[:1] == ["message"]
            ):
                self._on_message(reply)
            elif self._waiting:
                self._waiting.popleft()(reply)

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None
        while self._waiting:
            self._waiting.popleft()(ConnectionError(f"connection lost: {exc}"))

    def send_packed(self, packed: bytes, on_reply: Reply) -> None:
        """Send one packed command; ``on_reply`` gets its reply."""
        if self.transport is None:
            on_reply(ConnectionError("not connected"))
            return
        self._waiting.append(on_reply)
        self.transport.write(packed)

    async def reply(self, *parts: Any) -> Any:
        """Send one command and wait for its reply (an error reply is returned)."""
        future = asyncio.get_running_loop().create_future()
        self.send_packed(hiredis.pack_command(parts), lambda r: _settle(future, r))
        return await future

    async def call(self, *parts: Any) -> Any:
        """Send one command and wait for its reply (an error reply is raised)."""
        reply = await self.reply(*parts)
        if isinstance(reply, hiredis.ReplyError):
            raise RuntimeError(f"{parts[0]}: {reply}")
        return reply

    async def script(self, call: Captured) -> Any:
        """Run a captured script call by its SHA (the scripts were loaded first)."""
        return await self.call("EVALSHA", sha(call.name), len(call.keys), *call.keys, *call.args)

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()


def _settle(future: asyncio.Future[Any], reply: Any) -> None:
    if future.done():
        return
    if isinstance(reply, ConnectionError):
        future.set_exception(reply)
    else:
        future.set_result(reply)


async def connect(
    host: str, port: int, on_message: Callable[[list[Any]], None] | None = None
) -> Wire:
    loop = asyncio.get_running_loop()
    _transport, wire = await loop.create_connection(lambda: Wire(on_message), host, port)
    return wire


class ErrorsOnly:
    """The reply slot of a RESP3 ``SUBSCRIBE``: its confirmation is a push, so the slot
    takes only a refusal (an error reply), else the next slot takes the reply (the
    library's ``Slot(errors_only=True)``, link.py)."""

    __slots__ = ("on_error",)

    def __init__(self, on_error: Reply) -> None:
        self.on_error = on_error

    def __call__(self, reply: Any) -> None:
        if isinstance(reply, hiredis.ReplyError):
            self.on_error(reply)


class LinkWire(Wire):
    """The library's one connection per worker (tablevault_redis/link.py): RESP3, its
    pushes (``message``, ``subscribe``: hiredis parses them as ``PushNotification``)
    go to ``on_message``, every other reply to the next callback in order."""

    def data_received(self, data: bytes) -> None:
        self._reader.feed(data)
        waiting = self._waiting
        while (reply := self._reader.gets()) is not False:
            if type(reply) is hiredis.PushNotification:
                if self._on_message is not None:
                    self._on_message(reply)
                continue
            if not waiting:
                continue
            on_reply = waiting.popleft()
            while type(on_reply) is ErrorsOnly and waiting and not isinstance(reply, _ERROR):
                on_reply = waiting.popleft()  # the SUBSCRIBE succeeded: the reply is the next's
            on_reply(reply)

    async def subscribe(self, command: str, channel: str, on_refused: Reply) -> None:
        """``command`` (SUBSCRIBE) with a PING, as the library sends them (link.py
        ``subscribe``): a refusal goes to ``on_refused``; returns once the PING's reply
        came, after the confirmation's push."""
        future = asyncio.get_running_loop().create_future()
        packed = hiredis.pack_command((command, channel))  # type: ignore[arg-type]
        self.send_packed(packed, ErrorsOnly(on_refused))
        self.send_packed(_PING, lambda r: _settle(future, r))
        await future


_ERROR = hiredis.ReplyError
_PING = hiredis.pack_command(("PING",))
# What redis-py sends after ``HELLO 3`` on connecting (without a client name, a password
# or a database), each awaited; a server that knows none of them refuses them, ignored.
# The endpoint type is the one redis-py chooses for a loopback or private address.
_AFTER_HELLO = (
    ("CLIENT", "MAINT_NOTIFICATIONS", "ON", "moving-endpoint-type", "internal-ip"),
    ("CLIENT", "SETINFO", "LIB-NAME", "redis-py"),
    ("CLIENT", "SETINFO", "LIB-VER", redis.__version__),
)


async def connect_link(host: str, port: int, on_push: Callable[[list[Any]], None]) -> LinkWire:
    """A :class:`LinkWire` after the handshake the library's link makes (redis-py's
    ``connect`` with ``protocol=3``): ``HELLO 3``, then ``_AFTER_HELLO``."""
    loop = asyncio.get_running_loop()
    _transport, wire = await loop.create_connection(lambda: LinkWire(on_push), host, port)
    hello = await wire.call("HELLO", 3)
    if not isinstance(hello, dict) or hello.get("proto") != 3:
        raise RuntimeError(f"HELLO 3: {hello!r}")
    for command in _AFTER_HELLO:
        await wire.reply(*command)
    return wire
