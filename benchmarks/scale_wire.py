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


def pack(call: Captured) -> bytes:
    """The EVALSHA of a captured script call in RESP (hiredis packs it in C: packing
    in Python cost the simulator a few microseconds per command)."""
    return hiredis.pack_command(("EVALSHA", sha(call.name), len(call.keys), *call.keys, *call.args))


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

    async def call(self, *parts: Any) -> Any:
        """Send one command and wait for its reply (an error reply is raised)."""
        future = asyncio.get_running_loop().create_future()
        self.send_packed(hiredis.pack_command(parts), lambda r: _settle(future, r))
        reply = await future
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
