"""The wire side of the worker simulation (bench_scale_workers.py): the library's script
calls captured as (script, KEYS, ARGV), and a small asyncio Redis connection.

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


def encode(parts: tuple[Any, ...]) -> bytes:
    """One command in RESP: an array of bulk strings."""
    out = [b"*%d\r\n" % len(parts)]
    for part in parts:
        data = part if isinstance(part, bytes) else str(part).encode("utf-8")
        out.append(b"$%d\r\n%s\r\n" % (len(data), data))
    return b"".join(out)


class Wire(asyncio.Protocol):
    """One Redis connection: commands are pipelined and answered in order; pub/sub
    messages (``["message", channel, data]``) go to ``on_message`` instead."""

    def __init__(self, on_message: Callable[[list[Any]], None] | None = None) -> None:
        self._reader = hiredis.Reader(encoding="utf-8")
        self._waiting: deque[asyncio.Future[Any]] = deque()
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
                future = self._waiting.popleft()
                if not future.done():
                    future.set_result(reply)

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None
        while self._waiting:
            future = self._waiting.popleft()
            if not future.done():
                future.set_exception(ConnectionError(f"connection lost: {exc}"))

    def send(self, *parts: Any) -> asyncio.Future[Any]:
        """Send one command; the future gets its reply (an error reply is raised)."""
        future = asyncio.get_running_loop().create_future()
        if self.transport is None:
            future.set_exception(ConnectionError("not connected"))
            return future
        self._waiting.append(future)
        self.transport.write(encode(parts))
        return future

    async def call(self, *parts: Any) -> Any:
        reply = await self.send(*parts)
        if isinstance(reply, hiredis.ReplyError):
            raise RuntimeError(f"{parts[0]}: {reply}")
        return reply

    async def script(self, call: Captured) -> Any:
        """Run a captured script call by its SHA (the scripts were loaded first)."""
        return await self.call("EVALSHA", sha(call.name), len(call.keys), *call.keys, *call.args)

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()


async def connect(
    host: str, port: int, on_message: Callable[[list[Any]], None] | None = None
) -> Wire:
    loop = asyncio.get_running_loop()
    _transport, wire = await loop.create_connection(lambda: Wire(on_message), host, port)
    return wire
