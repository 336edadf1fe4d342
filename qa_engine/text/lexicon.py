"""Word lists and one Aho-Corasick index over all of them.

A word list is a UTF-8 file under ``lexicons/words/``: one entry per line, ``#`` comments, and a
``# source:`` header saying where the entries come from. Entries are normalised exactly like turn
text, so Traditional or full-width entries still match.
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path
from typing import NamedTuple

import ahocorasick

from qa_engine.text.normalize import normalize


class LexiconError(ValueError):
    """A word list or pattern file is missing or malformed."""


def read_entries(path: Path) -> list[str]:
    """Non-comment, non-empty lines of a list file, in order, without duplicates."""
    if not path.is_file():
        raise LexiconError(f"word list not found: {path}")
    seen: dict[str, None] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        entry = line.strip()
        if entry and not entry.startswith("#"):
            seen.setdefault(entry, None)
    return list(seen)


def load_word_list(path: Path) -> list[str]:
    """Entries of a phrase list, normalised."""
    words = {normalize(e).text: None for e in read_entries(path)}
    words.pop("", None)
    return list(words)


class PhraseMatch(NamedTuple):  # a tuple: made for every lexicon match of every turn, cheaply
    start: int  # in normalised text
    end: int
    term: str


class PhraseIndex:
    """Finds every entry of every registered list in one pass over a text."""

    def __init__(self) -> None:
        self._lists: dict[str, frozenset[str]] = {}
        self._automaton: ahocorasick.Automaton | None = None

    def add_list(self, name: str, words: list[str]) -> str:
        if self._automaton is not None:
            raise RuntimeError("PhraseIndex is frozen once built")
        self._lists[name] = frozenset(words)
        return name

    def words(self, name: str) -> frozenset[str]:
        return self._lists[name]

    @property
    def all_terms(self) -> set[str]:
        return set().union(*self._lists.values()) if self._lists else set()

    def build(self) -> None:
        owners: dict[str, list[str]] = defaultdict(list)
        for name, words in self._lists.items():
            for w in words:
                owners[w].append(name)
        automaton = ahocorasick.Automaton()
        for term, names in owners.items():
            automaton.add_word(term, (term, tuple(names)))
        if owners:
            automaton.make_automaton()
        self._automaton = automaton

    def find(self, text: str) -> dict[str, list[PhraseMatch]]:
        """Matches grouped by list name, ordered by start."""
        if self._automaton is None:
            self.build()
        found: dict[str, list[PhraseMatch]] = defaultdict(list)
        if not text or self._automaton is None or len(self._automaton) == 0:
            return found
        for end_idx, (term, names) in self._automaton.iter(text):
            match = PhraseMatch(end_idx - len(term) + 1, end_idx + 1, term)
            for name in names:
                found[name].append(match)
        for matches in found.values():
            if len(matches) > 1:  # most lists match once in a turn
                matches.sort(key=lambda m: (m.start, -m.end))
        return found
