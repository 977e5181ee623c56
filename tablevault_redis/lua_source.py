"""The text of the Lua scripts: ``lua/<name>.lua``, each behind the same prelude.

The prelude is ``final``, the set of final statuses, generated from
:data:`models.FINAL_STATUSES` (so that set is written once), then
``lua/lib/prelude.lua``: the helpers every script reads keys through, since any
client holding the namespace's keys may have written anything into them.
"""

from __future__ import annotations

from functools import cache
from importlib import resources

from .models import FINAL_STATUSES


@cache
def names() -> tuple[str, ...]:
    """The scripts: every ``lua/<name>.lua`` shipped with the package."""
    folder = resources.files(__package__).joinpath("lua")
    return tuple(
        sorted(p.name[: -len(".lua")] for p in folder.iterdir() if p.name.endswith(".lua"))
    )


@cache
def prelude() -> str:
    """Lua defining ``final``, the final statuses, and the helpers, for every script."""
    entries = ", ".join(f"{status} = true" for status in sorted(FINAL_STATUSES))
    helpers = resources.files(__package__).joinpath("lua/lib/prelude.lua").read_text("utf-8")
    return f"local final = {{{entries}}}\n{helpers}"


@cache
def source(name: str) -> str:
    """The text run for script ``name``: the prelude, then ``lua/<name>.lua``."""
    text = resources.files(__package__).joinpath(f"lua/{name}.lua").read_text("utf-8")
    return prelude() + text
