"""The ``tablevault-redis`` command line: inspect and control processes.

Tables are for people (times shown as local clock time plus how long ago); ``--json``
prints the same data for scripts, with times as raw seconds since the epoch.

Exit codes:

- ``0``: done.
- ``1``: refused or failed: the library raised a ``TableVaultError`` (unknown
  process, a request the target's state does not allow, a ``--wait`` that timed
  out, an unreachable server). Its message is printed on stderr as one line.
  (A closed output pipe, as in ``ps | head``, also ends with 1, silently: click's
  convention.)
- ``2``: usage error: an unknown command or option, a bad option value, and also a
  malformed process name or namespace (empty, too long, control characters or
  braces). Names are checked before anything connects, so a malformed name is
  always 2, while a well-formed name that does not exist is 1.
- ``130``: Ctrl-C while ``stop|pause|resume --wait`` waited; the request stays.

With ``--json`` an error is one JSON object on stderr, ``{"error": "...", "code":
N}`` (``N`` the exit code), so stdout holds only data.

Every command that talks to Redis takes ``--url`` (default: ``TABLEVAULT_REDIS_URL``,
else the embedded per-user server, started on demand) and ``--namespace`` (default
``TABLEVAULT_NAMESPACE``, else ``tv``). The ``server`` commands act on the embedded
server only and take neither.

Each command's module is imported only when that command runs (``app.LAZY_COMMANDS``),
so ``ps --json`` loads neither ``top``, ``logs`` nor the control commands.

Modules: ``app`` (the click groups, refusals as exit codes), ``options`` (shared
options, checked before connecting), ``views``, ``logs``, ``control``, ``commands``,
``records``, ``top`` and ``server`` (the commands), ``tree`` (which processes show
under which parent), ``plain`` (times, JSON, logs), ``render`` (rich tables and
trees, imported only when drawing) and ``topview`` (the ``top`` screen, imported
only by ``top``).
"""

from __future__ import annotations

from .app import PROG, app

__all__ = ["PROG", "app", "main"]


def main() -> None:
    """Console-script entry point (``tablevault-redis`` and ``python -m tablevault_redis``)."""
    # click already turns a closed stdout pipe (`... | head`) into a quiet exit 1.
    app.main(prog_name=PROG)
