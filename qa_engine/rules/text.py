"""Text operators: keyword lists (any / all / at least N / none), negation-aware phrases, regex."""

from __future__ import annotations

import re
from typing import Literal

from pydantic import Field, model_validator

from qa_engine.context import InspectionContext, TurnView
from qa_engine.rules.base import Resources, RuleOperator, RuleSpec, register
from qa_engine.schema import Hit, PatternEvidence, PhraseEvidence
from qa_engine.text.lexicon import LexiconError, PhraseMatch, load_word_list, read_entries
from qa_engine.text.normalize import normalize
from qa_engine.trace import RuleTrace, Step

_CLAUSE_BREAK = re.compile(r"[，。！？；,.!?;：:\s]")
_EVIDENCE_MAX = 4096  # evidence objects kept per rule (phrase combinations of all / at_least rules)
_MEMO_MAX = 1 << 15  # texts whose matches a rule keeps; emptied when full (an endless stream)


def any_of(patterns: list[str]) -> re.Pattern[str] | None:
    """One regex matching any of `patterns` (each kept a group of its own), None for none."""
    return re.compile("|".join(f"(?:{p})" for p in patterns)) if patterns else None


class ExclusionParams(RuleOperator.Params):
    """The `exclude` parameters of the keyword and regex operators: a match is dropped when one of these
    regexes matches the match with `exclude_context` characters on each side (None: anywhere in the
    turn), e.g. a listed word that is here part of an emoticon code."""

    exclude: list[str] = Field(default_factory=list)
    exclude_context: int | None = Field(default=None, ge=0, description="None: whole turn")


class Exclusion:
    """ExclusionParams compiled: `window(text, start, end)` is where a match was excluded, or None."""

    def __init__(self, params: ExclusionParams) -> None:
        self.pattern = any_of(params.exclude)  # re.error for a bad regex: the operator names the rule
        self.context = params.exclude_context

    def window(self, text: str, start: int, end: int) -> str | None:
        if self.pattern is None:
            return None
        window = text if self.context is None else text[max(0, start - self.context) : end + self.context]
        return window if self.pattern.search(window) else None


@register("keyword")
class KeywordOperator(RuleOperator):
    """Phrases from a word list, matched on jieba word boundaries.

    mode any: a hit per match. all / at_least: one hit per turn (or interaction) holding all / N
    distinct words. none: one interaction-level hit when no selected turn has any word.
    """

    params: Params

    class Params(ExclusionParams):
        words: list[str] = Field(default_factory=list)
        words_file: str | None = None
        mode: Literal["any", "all", "at_least", "none"] = "any"
        n: int = Field(default=1, ge=1)
        within: Literal["turn", "interaction"] = "turn"
        word_boundary: bool = True
        # Negation (the `phrase` operator turns it on): 不/没/别 right before a phrase changes it.
        negation: Literal["ignore", "exclude", "only"] = "ignore"
        negators_file: str = "negators.txt"
        negation_window: int = Field(default=2, ge=0, le=6)

        @model_validator(mode="after")
        def _has_words(self):
            if not self.words and not self.words_file:
                raise ValueError("keyword rule needs `words` or `words_file`")
            return self

    default_negation = "ignore"

    def __init__(self, spec: RuleSpec, resources: Resources) -> None:
        params = spec.params
        params.setdefault("negation", self.default_negation)
        self.spec = spec
        self.params = self.Params.model_validate(params)
        words = [normalize(w).text for w in self.params.words]
        if self.params.words_file:
            words += load_word_list(resources.words_path(self.params.words_file))
        words = [w for w in dict.fromkeys(words) if w]
        if not words:
            raise LexiconError(f"rule {spec.id}: word list is empty")
        self.words = frozenset(words)
        self.list_name = resources.index.add_list(f"rule:{spec.id}", words)
        self.negators: list[str] = []
        if self.params.negation != "ignore":
            self.negators = sorted(load_word_list(resources.words_path(self.params.negators_file)), key=len, reverse=True)
        self.longest_negator = max((len(n) for n in self.negators), default=1)
        try:
            self.exclusion = Exclusion(self.params)
        except re.error as exc:
            raise LexiconError(f"rule {spec.id}: bad exclude regex: {exc}") from exc
        self._evidence_of: dict[tuple[str, ...], PhraseEvidence] = {}
        self._matches_of: dict[str, list[PhraseMatch]] = {}  # normalised text -> _turn_matches
        # "some negator ends at most negation_window characters before the end": one regex search
        # instead of an rfind per negator (the negators are searched for every phrase match)
        self._negator_near_end = (
            re.compile("(?:" + "|".join(map(re.escape, self.negators)) + f")(?=.{{0,{self.params.negation_window}}}$)", re.S)
            if self.negators
            else None
        )

    def _negated(self, view: TurnView, match: PhraseMatch) -> bool:
        """A negator ends within `negation_window` characters before the phrase, same clause."""
        text = view.text
        lo = max(0, match.start - self.params.negation_window - self.longest_negator)
        clause = _CLAUSE_BREAK.split(text[lo : match.start])[-1]
        return self._negator_near_end is not None and self._negator_near_end.search(clause) is not None

    def _turn_matches(self, view: TurnView, trace: RuleTrace | None) -> list[PhraseMatch]:
        # a function of the turn's text alone: agents repeat template lines, so kept per text (not
        # when tracing, which notes every decision)
        if trace is None and (known := self._matches_of.get(view.text)) is not None:
            return known
        found = view.matches(self.list_name, word_boundary=self.params.word_boundary)
        if trace is not None:
            self._trace_matches(view, found, trace)
        if self.params.negation == "exclude":
            found = [m for m in found if not self._negated(view, m)]
        elif self.params.negation == "only":
            found = [m for m in found if self._negated(view, m)]
        if self.exclusion.pattern is not None:
            kept = []
            for m in found:
                if (window := self.exclusion.window(view.text, m.start, m.end)) is not None:
                    if trace is not None:
                        trace.note(
                            self.spec.id,
                            view.index,
                            "exclusion",
                            False,
                            f"「{m.term}」 dropped: an exclusion pattern matches 「{window}」",
                        )
                    continue
                kept.append(m)
            found = kept
        if trace is None:
            if len(self._matches_of) >= _MEMO_MAX:
                self._matches_of.clear()
            self._matches_of[view.text] = found
        return found

    def cache_clear(self) -> None:
        self._matches_of.clear()

    def _trace_matches(self, view: TurnView, found: list[PhraseMatch], trace: RuleTrace) -> None:
        rule, where = self.spec.id, f"list {self.params.words_file or 'inline'}"
        if self.params.word_boundary:
            for m in view.matches(self.list_name, word_boundary=False):
                if m not in found:
                    trace.note(
                        rule, view.index, "word_boundary", False, f"「{m.term}」 ({where}) dropped: not on word boundaries"
                    )
        for m in found:
            if self.params.negation == "ignore":
                trace.note(rule, view.index, "phrase", True, f"「{m.term}」 ({where}) matched")
                continue
            negated = self._negated(view, m)
            kept = negated == (self.params.negation == "only")
            said = "negated" if negated else "not negated"
            trace.note(
                rule,
                view.index,
                "negation",
                kept,
                f"「{m.term}」 ({where}) {said} (negation: {self.params.negation}, "
                f"preceding 「{view.text[max(0, m.start - self.params.negation_window - self.longest_negator) : m.start]}」)",
            )

    def evaluate(self, ctx: InspectionContext, turns: list[TurnView]) -> list[Hit]:
        p = self.params
        # Only turns where the shared index found a word of this list can match (most turns: none).
        per_turn = [(view, self._turn_matches(view, ctx.trace)) for view in turns if view.has_list(self.list_name)]
        if p.mode == "any":
            return [self.turn_hit(view, m.start, m.end, evidence=self._evidence([m.term])) for view, ms in per_turn for m in ms]
        if p.mode == "none":
            if any(ms for _, ms in per_turn):
                return []
            return [
                self.interaction_hit(self.spec.explanation.format(text="", turn=None, role=None), evidence=self._evidence([]))
            ]
        need = len(self.words) if p.mode == "all" else p.n
        if p.within == "turn":
            hits = []
            for view, ms in per_turn:
                terms = list(dict.fromkeys(m.term for m in ms))
                if len(terms) >= need:
                    hits.append(self.turn_hit(view, ms[0].start, ms[-1].end, evidence=self._evidence(terms)))
            return hits
        distinct = {m.term for _, ms in per_turn for m in ms}
        if len(distinct) < need:
            return []
        return [self.turn_hit(view, m.start, m.end, evidence=self._evidence([m.term])) for view, ms in per_turn for m in ms]

    def _evidence(self, phrases: list[str]) -> PhraseEvidence:
        # One (frozen) evidence per set of phrases, shared by the hits that found them: building and
        # validating one per hit was a sizeable part of a keyword hit's cost.
        key = tuple(phrases)
        evidence = self._evidence_of.get(key)
        if evidence is None:
            if len(self._evidence_of) >= _EVIDENCE_MAX:
                self._evidence_of.clear()
            p = self.params
            evidence = self._evidence_of[key] = PhraseEvidence(
                operator=self.name,
                phrases=phrases,
                word_list=p.words_file or "inline",
                mode=p.mode,
                negation=p.negation,
                word_boundary=p.word_boundary,
            )
        return evidence


@register("phrase")
class PhraseOperator(KeywordOperator):
    """A keyword list whose phrases are dropped when negated (我不理解 is not empathy)."""

    default_negation = "exclude"


def required_chars(pattern: str) -> list[frozenset[str]]:
    """Character sets such that every match of the pattern contains a character of each set.

    Lets a regex be skipped on turns that miss one of them (a sound shortcut: Python's re does not
    scan for a literal when a pattern starts with a group or an optional part, and most of the
    paraphrase patterns need a rare character somewhere, 拍板 or 滚). Empty when nothing can be told.
    """
    from re import _constants as c  # type: ignore[attr-defined]  # private module, not in typeshed
    from re import _parser as parser  # type: ignore[attr-defined]  # private module, not in typeshed

    def of(items) -> list[frozenset[str]]:
        found: list[frozenset[str]] = []
        for op, arg in items:
            if op is c.LITERAL:
                found.append(frozenset(chr(arg)))
            elif op is c.IN:
                if all(o is c.LITERAL for o, _ in arg):
                    found.append(frozenset(chr(a) for _, a in arg))
            elif op is c.SUBPATTERN:
                found += of(arg[-1])
            elif op is c.BRANCH:
                # one alternative is taken: the union of one required set per alternative is required
                per_branch = [of(branch) for branch in arg[1]]
                if all(per_branch):
                    found.append(frozenset().union(*(min(sets, key=len) for sets in per_branch)))
            elif op in (c.MAX_REPEAT, c.MIN_REPEAT) and arg[0] >= 1:
                found += of(arg[2])
            # anything else (optional parts, assertions, classes, any character) requires nothing
        return found

    try:
        parsed = parser.parse(pattern)
    except Exception:  # an exotic construct: no shortcut, the pattern always runs
        return []
    if parsed.state.flags & re.IGNORECASE:  # a literal also matches its other case
        return []
    sets = of(parsed)
    return sorted(set(sets), key=len)  # the most selective first: fewer checks on most turns


@register("regex")
class RegexOperator(RuleOperator):
    """Regular expressions on normalised text, each match dropped if an exclusion regex matches
    the turn (or the match with `exclude_context` characters around it), or if an `exclude_before`
    regex matches in the match's clause starting before the match (a negation whose scope covers it)."""

    params: Params

    class Params(ExclusionParams):
        patterns: list[str] = Field(default_factory=list)
        patterns_file: str | None = None
        # Searched in the text from the start of the match's clause (after the last clause mark, as the
        # phrase operator's negation scope) to the end of the match; a hit starting before the match
        # drops it, however long the words between (无法保证[数字x]点一定送到: the negated 保证 scopes over
        # the placeholder and the promise after it).
        exclude_before: list[str] = Field(default_factory=list)
        word_boundary: bool = True

    def __init__(self, spec: RuleSpec, resources: Resources) -> None:
        super().__init__(spec, resources)
        sources = list(self.params.patterns)
        if self.params.patterns_file:
            sources += read_entries(resources.words_path(self.params.patterns_file))
        if not sources:
            raise LexiconError(f"rule {spec.id}: no patterns")
        try:
            # Separate patterns: one big alternation is ~2.5x slower in Python's re (no literal prefix scan).
            self.patterns = [(re.compile(s), required_chars(s)) for s in sources]
            self._index_of: list | None = None
            self._evidence_of: dict[str, PatternEvidence] = {}
            self._spans_of: dict[str, list[tuple[int, int, str]]] = {}  # normalised text -> _turn_spans
            self.exclusion = Exclusion(self.params)
            self.exclude_before = any_of(self.params.exclude_before)
        except re.error as exc:
            raise LexiconError(f"rule {spec.id}: bad regex: {exc}") from exc

    def _candidates(self) -> tuple[dict[str, list[int]], frozenset[str], list[int]]:
        """Which patterns a turn's characters may start: by each pattern's most selective required
        set (a pattern is looked at only on turns holding one of its characters), and the patterns
        that require nothing. Made again when `patterns` is replaced."""
        if self._index_of is not self.patterns:
            by_char: dict[str, list[int]] = {}
            always = []
            for i, (_, needs) in enumerate(self.patterns):
                if not needs:
                    always.append(i)
                for ch in needs[0] if needs else ():
                    by_char.setdefault(ch, []).append(i)
            self._index = (by_char, frozenset(by_char), always)
            self._index_of = self.patterns
            self._spans_of.clear()  # found with the patterns replaced
            self._evidence_of.clear()
            # per pattern: the characters it needs every one of (one subset test), and the sets it
            # needs one character of
            self._checks = [
                (pattern, frozenset().union(*(n for n in needs if len(n) == 1)), [n for n in needs[1:] if len(n) > 1])
                for pattern, needs in self.patterns
            ]
        return self._index

    def evaluate(self, ctx: InspectionContext, turns: list[TurnView]) -> list[Hit]:
        self._candidates()  # (re)made for the current patterns, the memo with them
        hits = []
        for view in turns:
            for start, end, source in self._turn_spans(view, ctx.trace):
                evidence = self._evidence_of.get(source)  # one (frozen) evidence per pattern
                if evidence is None:
                    evidence = self._evidence_of[source] = PatternEvidence(
                        operator=self.name,
                        pattern=source,
                        exclusions_checked=self.exclusion.pattern is not None or self.exclude_before is not None,
                        word_boundary=self.params.word_boundary,
                    )
                hits.append(self.turn_hit(view, start, end, evidence=evidence))
        return hits

    def cache_clear(self) -> None:
        self._spans_of.clear()

    def _turn_spans(self, view: TurnView, trace: RuleTrace | None) -> list[tuple[int, int, str]]:
        """(start, end, pattern) of the matches kept on one turn: a function of its text alone, so
        kept per text (agents repeat template lines; not when tracing, which notes every decision)."""
        if trace is None and (known := self._spans_of.get(view.text)) is not None:
            return known
        by_char, keys, always = self._index
        kept: list[tuple[int, int, str]] = []
        chars = view.chars
        present = keys.intersection(chars)
        if present or always:  # most turns: no pattern can match
            todo = set(always)
            for ch in present:
                todo.update(by_char[ch])
            spans = sorted(
                (m.start(), -m.end(), pattern.pattern)  # the pattern only names the evidence
                for pattern, all_of, any_of in map(self._checks.__getitem__, sorted(todo))
                if all_of <= chars and all(not need.isdisjoint(chars) for need in any_of)
                for m in pattern.finditer(view.text)
                if m.end() > m.start()
            )
            last_end = -1
            for start, neg_end, source in spans:
                end = -neg_end
                if start < last_end:
                    continue
                if (window := self.exclusion.window(view.text, start, end)) is not None:
                    if trace is not None:
                        self._note_dropped(
                            trace, view, start, end, source, "exclusion", f"an exclusion pattern matches 「{window}」"
                        )
                    continue
                if self.exclude_before is not None and (scope := self._scoped_by(view.text, start, end)) is not None:
                    if trace is not None:
                        self._note_dropped(trace, view, start, end, source, "exclusion", f"in the scope of 「{scope}」")
                    continue
                if self.params.word_boundary and not view.respects_words(start, end):
                    if trace is not None:
                        self._note_dropped(trace, view, start, end, source, "word_boundary", "not on word boundaries")
                    continue
                last_end = end
                kept.append((start, end, source))
        if trace is None:
            if len(self._spans_of) >= _MEMO_MAX:
                self._spans_of.clear()
            self._spans_of[view.text] = kept
        return kept

    def _note_dropped(self, trace: RuleTrace, view: TurnView, start: int, end: int, source: str, step: Step, why: str) -> None:
        trace.note(self.spec.id, view.index, step, False, f"「{view.text[start:end]}」 (pattern {source}) dropped: {why}")

    def _scoped_by(self, text: str, start: int, end: int) -> str | None:
        """The `exclude_before` match that starts in the clause of text[start:end] before `start`, if any."""
        assert self.exclude_before is not None
        clause_start = 0
        for m in _CLAUSE_BREAK.finditer(text, 0, start):
            clause_start = m.end()
        for m in self.exclude_before.finditer(text, clause_start, end):
            if m.start() < start:
                return m.group()
        return None
