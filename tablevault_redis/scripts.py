"""The Lua scripts, loaded once from ``lua/`` and called with keys from :mod:`keys`.

Every atomic step of the library is one script. Each ``.lua`` file starts with a
header naming its KEYS, ARGV and return value. Key names are always passed in
``KEYS`` (never built inside Lua) so the schema lives in :mod:`keys` and Redis
Cluster can route each call.
"""

from __future__ import annotations

from functools import cache
from importlib import resources
from typing import Any

from redis.commands.core import Script

NAMES = (
    "register",
    "request",
    "ack",
    "finish",
    "open_code",
    "close_code",
    "heartbeat",
    "request_state",
    "op_begin",
    "op_end",
    "clear_request",
    "record_append",
    "describe",
)


@cache
def source(name: str) -> str:
    """The text of ``lua/<name>.lua``."""
    return resources.files(__package__).joinpath(f"lua/{name}.lua").read_text("utf-8")


class Scripts:
    """The registered scripts of one client; ``scripts.run("request", keys, args)``.

    redis-py's :class:`Script` sends EVALSHA and falls back to EVAL after a
    NOSCRIPT reply, so a restarted server or a failover needs no special care.
    """

    def __init__(self, client: Any) -> None:
        self._scripts: dict[str, Script] = {
            name: client.register_script(source(name)) for name in NAMES
        }

    def run(self, name: str, keys: list[str], args: list[Any], client: Any = None) -> Any:
        """Run script ``name`` with ``keys`` and ``args`` (optionally on ``client``)."""
        return self._scripts[name](keys=keys, args=args, client=client)
