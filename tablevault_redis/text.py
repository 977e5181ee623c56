"""Word splitting, one rule for the writes that index words and the queries that
look them up: a text matches a query only if both were split the same way."""

from __future__ import annotations

import re

_WORD = re.compile(r"\w+")
MAX_WORD_LENGTH = 100  # characters; longer tokens are cut, in texts and queries alike


def words(text: str) -> list[str]:
    """The distinct words of ``text``: case-folded ``\\w+`` tokens, in first-seen order."""
    seen: dict[str, None] = {}
    for token in _WORD.findall(text.casefold()):
        seen.setdefault(token[:MAX_WORD_LENGTH], None)
    return list(seen)
