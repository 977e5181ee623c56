"""The word tokenizer behind the code and description indexes."""

from __future__ import annotations

from tablevault_redis.text import MAX_WORD_LENGTH, words


def test_words_are_case_folded_and_deduplicated_in_first_seen_order() -> None:
    assert words("Train the MODEL, then train the model again") == [
        "train",
        "the",
        "model",
        "then",
        "again",
    ]


def test_case_folding_is_unicode_casefold() -> None:
    assert words("Straße STRASSE ΣΊΣΥΦΟΣ") == ["strasse", "σίσυφοσ"]


def test_words_are_backslash_w_runs() -> None:
    found = words("x=load_data(path)+1; y-2 #note é")
    assert found == ["x", "load_data", "path", "1", "y", "2", "note", "é"]
    assert words("數據 données_2") == ["數據", "données_2"]


def test_no_words() -> None:
    assert words("") == []
    assert words(" \n\t+-*/ ()[]{} ") == []


def test_long_tokens_are_cut_and_then_deduplicated() -> None:
    long_a = "a" * (MAX_WORD_LENGTH + 50)
    assert words(long_a) == ["a" * MAX_WORD_LENGTH]
    # two tokens that differ only after the cut are one word
    assert words(long_a + "b " + long_a + "c") == ["a" * MAX_WORD_LENGTH]
    exact = "z" * MAX_WORD_LENGTH
    assert words(exact) == [exact]
