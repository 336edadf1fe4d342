"""The inspector: one interaction in, one scored result with evidence out."""

from __future__ import annotations

import logging
import sys
import weakref
from collections.abc import Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from itertools import chain, islice, repeat
from pathlib import Path
from typing import TypeVar

from qa_engine import timing
from qa_engine.config import Settings
from qa_engine.context import InspectionContext
from qa_engine.ml.emotion import EmotionScorer, trajectory
from qa_engine.ml.model_digest import folder_digest
from qa_engine.ml.scorers import make_emotion_scorer, make_satisfaction_model
from qa_engine.ml.text_cache import Staged
from qa_engine.rulepack import RuleSet, load_rules
from qa_engine.rules import Resources, Scope, select_turns, vetoed_turns, vetoing_rules
from qa_engine.schema import Hit, Interaction, Result, SatisfactionResult, Stats
from qa_engine.scorecard import Scorecard, load_scorecards
from qa_engine.text.lexicon import PhraseIndex
from qa_engine.text.segment import Segmenter
from qa_engine.trace import RuleTrace

T = TypeVar("T")
log = logging.getLogger(__name__)


def shorten_gil_switch(settings: Settings) -> None:
    """For a process whose engine runs background model threads: their onnxruntime calls need the
    GIL for a moment at each start and end, and with Python's default 5 ms switch interval they wait
    that long behind the rules thread (settings.gil_switch_ms). Process-wide, so only the process's
    entry point calls it (`qa-engine score`, `serve`, batch workers), never a library constructor."""
    if settings.gil_switch_ms > 0:
        sys.setswitchinterval(settings.gil_switch_ms / 1000)


class Inspector:
    """Loads rule packs, scorecards and scorers once; `inspect` is then cheap and thread-safe."""

    def __init__(
        self,
        settings: Settings,
        *,
        pack_paths: list[Path] | None = None,
        scorecards: dict[str, Scorecard] | None = None,
        emotion_scorer: EmotionScorer | None = None,
        background_threads: bool = True,
    ) -> None:
        """`background_threads`: run the models' onnxruntime work in background threads beside the
        (pure Python) rules, which shortens one process's wall time when it has a core to spare.
        Off where processes already fill the cores (`qa-engine score --workers N`): the threads
        then only add CPU (about 10 % per interaction, docs/benchmarks.md)."""
        self.settings = settings
        lex = self.settings.lexicons_dir
        if pack_paths is None:
            pack_paths = [lex / "packs" / f"{name}.yaml" for name in self.settings.rule_packs]
        self.index = PhraseIndex()
        resources = Resources(
            lexicons_dir=lex,
            index=self.index,
            embedder_dir=self.settings.embedder_path,
            onnx_threads=self.settings.onnx_threads,
            models_dir=self.settings.models_dir,
        )
        self.ruleset: RuleSet = load_rules(pack_paths, resources)  # operators load their models here
        self.index.build()
        self.segmenter = Segmenter(self.index.all_terms)
        self.scorecards = scorecards or load_scorecards(self.settings.scorecards_path)
        model_rules = {r.spec.id for r in self.ruleset.rules if r.model_backed}
        for card in self.scorecards.values():
            card.check_rules(self.ruleset.ids(), model_rules)
        self.rule_dimensions = {r.spec.id: r.spec.dimension for r in self.ruleset.rules}
        self.rule_groups = {r.spec.id: r.spec.finding_group for r in self.ruleset.rules}
        self.emotion_scorer = emotion_scorer or make_emotion_scorer(self.settings.emotion_scorer, self.settings)
        self.satisfaction = make_satisfaction_model(self.settings)
        for card in self.scorecards.values():
            card.check_satisfaction(self.satisfaction is not None)
        model_dirs = resources.model_dirs()
        if self.emotion_scorer.model_dir is not None:
            model_dirs[Path(self.emotion_scorer.model_dir).name] = Path(self.emotion_scorer.model_dir)
        if self.satisfaction is not None:
            model_dirs[self.satisfaction.model_dir.name] = self.satisfaction.model_dir
        # Every model folder a result depends on, by content: a retrained model is a new version.
        self.model_digests = {name: folder_digest(path) for name, path in sorted(model_dirs.items())}
        # An ONNX emotion model spends its time in onnxruntime, which releases the GIL: one background
        # thread runs it while the (pure Python) rules run, so a call costs about the longer of the two
        # instead of their sum. The lexicon scorer is pure Python and gains nothing from a thread.
        self._emotion_worker = (
            ThreadPoolExecutor(max_workers=1, thread_name_prefix="emotion")
            if background_threads and self.emotion_scorer.releases_gil
            else None
        )
        # inspect_many's model work for the next chunk (onnxruntime batches of the emotion model or of
        # classifier rules, whichever emotion scorer runs); its own thread, so that a long run does
        # not hold up the emotion calls of single inspections running at the same time
        staged_models = self.emotion_scorer.releases_gil or any(r.model_backed for r in self.ruleset.rules)
        self._prefetch_worker = (
            ThreadPoolExecutor(max_workers=1, thread_name_prefix="prefetch") if background_threads and staged_models else None
        )
        for worker in (self._emotion_worker, self._prefetch_worker):
            if worker is not None:  # engines are rebuilt (rule versions): no idle thread left per engine
                weakref.finalize(self, worker.shutdown, wait=False)
        versions = self.versions
        log.info(
            "engine loaded: %d rules from packs %s, emotion %s",
            len(self.ruleset.rules),
            ", ".join(f"{p}@{v}" for p, v in versions["packs"].items()),
            self.emotion_scorer.source,
            extra={
                "ruleset": versions["ruleset"],
                "packs": versions["packs"],
                "rules": len(self.ruleset.rules),
                "scorecards": versions["scorecards"],
                "models": versions["models"],
                "model_digests": versions["model_digests"],
            },
        )

    @property
    def runs_background_threads(self) -> bool:
        return self._prefetch_worker is not None or self._emotion_worker is not None

    @property
    def versions(self) -> dict:
        return {
            "ruleset": self.ruleset.version,
            "packs": self.ruleset.packs,
            "scorecards": {c: f"{s.name}@{s.version}" for c, s in self.scorecards.items()},
            "models": {
                "emotion": self.emotion_scorer.source,
                **({"satisfaction": self.satisfaction.source} if self.satisfaction is not None else {}),
            },
            "model_digests": dict(self.model_digests),
        }

    def _mark_low_confidence(self, hits: dict[str, list[Hit]]) -> None:
        """Reviewers must know when a flag may be the recogniser's mistake: such hits are replaced
        by copies whose explanation says so (hits are immutable)."""
        limit = self.settings.asr_low_confidence

        def marked(h: Hit) -> Hit:
            if h.asr_confidence is not None and h.asr_confidence < limit and h.severity != "info":
                note = f"（注意：该轮语音识别置信度 {h.asr_confidence:.2f} 偏低，可能是识别错误）"
                return h.model_copy(update={"explanation": h.explanation + note})
            return h

        for rule_id, rule_hits in hits.items():
            if rule_hits and any(h.asr_confidence is not None for h in rule_hits):  # chats have none: no copies
                hits[rule_id] = [marked(h) for h in rule_hits]

    def inspect(self, interaction: Interaction, trace: RuleTrace | None = None) -> Result:
        """One interaction (the API's synchronous path). For many, inspect_many is several times faster.
        `trace`: collects each rule's decisions (qa_engine.trace), for `qa-engine score --trace`."""
        ctx = self._context(interaction)
        ctx.trace = trace
        if self._emotion_worker is not None:  # the model runs outside the GIL beside the text rules
            ctx.emotions = self._emotion_worker.submit(self.emotion_scorer.score, ctx.turns)
        else:
            ctx.emotions = self.emotion_scorer.score(ctx.turns)
        return self._inspect(ctx)

    def inspect_many(self, items: Iterable[Interaction | T], chunk_size: int = 128) -> Iterator[Result | T | ValueError]:
        """Results of a stream of interactions, in order, one per item, with the same results as
        `inspect`. Items that are not Interactions (a reader's record errors) come back unchanged, and
        an interaction that cannot be inspected comes back as its ValueError, so a stream keeps its
        order and its failures.

        Why it is faster: the models run once per chunk of `chunk_size` interactions, in large
        length-sorted batches, instead of once per interaction (a batch of ~12 turns is mostly
        per-call overhead), and the next chunk's model work runs in the background thread, outside
        the GIL, while the text rules of this one run. Per-text model caches carry the outputs over.
        """
        pending: tuple[list, list[Staged], Future | None] | None = None
        ready = None
        iterator = iter(items)
        # The first chunks are smaller: nothing overlaps the first chunk's model work, so a short
        # one gets the rules going sooner (and the first results out sooner on a slow stream).
        sizes = chain((max(1, chunk_size >> k) for k in (3, 2, 1)), repeat(chunk_size))
        try:
            while chunk := list(islice(iterator, next(sizes))):
                ready = self._start_chunk(chunk)
                if pending is not None:
                    yield from self._finish_chunk(*pending)
                pending, ready = ready, None
            if pending is not None:
                yield from self._finish_chunk(*pending)
                pending = None
        finally:  # a stream closed early, or an error: what was staged and never committed
            for left in (pending, ready):
                for w in left[1] if left is not None else ():
                    w.abandon()

    def _context(self, interaction: Interaction) -> InspectionContext:
        if not interaction.turns:
            raise ValueError(f"{interaction.interaction_id}: no turns to inspect (transcribe audio first)")
        ctx = InspectionContext.build(interaction, self.index, self.segmenter)
        ctx.emotion_source = self.emotion_scorer.source
        return ctx

    def _start_chunk(self, chunk: list) -> tuple[list, list[Staged], Future | None]:
        """Contexts for a chunk, and its model work: staged here (features, Python), run in the
        background (onnxruntime only)."""
        staged: list = []
        for item in chunk:
            if isinstance(item, Interaction):
                try:
                    staged.append(self._context(item))
                except ValueError as exc:
                    staged.append(exc)
            else:
                staged.append(item)
        contexts = [c for c in staged if isinstance(c, InspectionContext)]
        if self.satisfaction is not None:  # its n-grams for the whole chunk at once
            self.satisfaction.warm([v.text for c in contexts for v in c.turns])
        work = self._stage(contexts)
        if self._prefetch_worker is not None and work:
            return staged, work, self._prefetch_worker.submit(_run_all, work)
        _run_all(work)
        return staged, work, None

    def _stage(self, contexts: list[InspectionContext]) -> list[Staged]:
        """The models' work (emotion scorer, classifier rules) for the texts of these contexts that
        their per-text caches lack. Why staged: the features are Python and run in this thread, the
        background thread then holds no GIL-bound work, so the models' onnxruntime time overlaps
        the rules instead of competing with them for the GIL."""
        scorer = self.emotion_scorer  # what score() will read: a context model's turns with the turn before
        work = [scorer.stage([x for ctx in contexts for x in scorer.inputs(ctx.turns)])]
        done: set = set()  # what rules sharing a model have staged already
        for rule in self.ruleset.rules:
            work.append(rule.stage([c for c in contexts if c.interaction.channel in rule.spec.channels], done))
        return [w for w in work if w is not None]

    def _finish_chunk(self, staged: list, work: list[Staged], running: Future | None) -> Iterator:
        # Batches the background thread has not reached yet run here: this thread would only wait,
        # and onnxruntime then has both cores.
        _run_all(work)
        if running is not None:
            running.result()  # the batches it is running; a model error surfaces here, as from inspect
        for w in work:
            w.commit()
        # The rules of the whole chunk first, then the satisfaction model's predictions of the chunk in
        # one run (its Python runs back to back, not between two interactions' rules), then the results
        contexts = [item for item in staged if isinstance(item, InspectionContext)]
        found = []
        for ctx in contexts:
            ctx.emotions = self.emotion_scorer.score(ctx.turns)  # from the cache the staged work filled
            found.append(self._rules(ctx))
        predicted = [self._satisfaction(ctx, hits) for ctx, hits in zip(contexts, found, strict=True)]
        scored = iter(zip(contexts, found, predicted, strict=True))
        for item in staged:
            yield self._result(*next(scored)) if isinstance(item, InspectionContext) else item

    def _inspect(self, ctx: InspectionContext) -> Result:
        hits = self._rules(ctx)
        return self._result(ctx, hits, self._satisfaction(ctx, hits))

    def _rules(self, ctx: InspectionContext) -> list[Hit]:
        """The rules' hits of one interaction (in ctx.hits by rule, and returned sorted)."""
        interaction = ctx.interaction
        trace = ctx.trace
        for rule in self.ruleset.rules:
            if interaction.channel in rule.spec.channels:
                turns = select_turns(rule.spec, ctx)
                if trace is not None:
                    _trace_scope(trace, rule.spec, ctx, turns)
                hits = rule.evaluate(ctx, turns)
                if rule.spec.unless:  # the rule's veto (RuleSpec.unless), whatever its operator
                    vetoed = vetoed_turns(rule.spec, ctx)
                    if trace is not None:
                        for h in hits:
                            if h.turn in vetoed:
                                trace.note(
                                    h.rule_id,
                                    h.turn,
                                    "unless",
                                    False,
                                    f"「{h.text}」 vetoed by {', '.join(vetoing_rules(rule.spec, ctx, h.turn))} (unless)",
                                )
                    hits = [h for h in hits if h.turn is None or h.turn not in vetoed]
                ctx.hits[rule.spec.id] = hits
            else:
                ctx.hits[rule.spec.id] = []
        before = {rid: list(hs) for rid, hs in ctx.hits.items()} if trace is not None else None
        _drop_contained(ctx.hits, self.rule_groups)
        if trace is not None:
            for rid, hs in (before or {}).items():
                for h in hs:
                    if h not in ctx.hits[rid]:
                        trace.note(
                            rid,
                            h.turn,
                            "contained",
                            False,
                            f"「{h.text}」 dropped: inside a stronger hit of group {self.rule_groups[rid]}",
                        )
        self._mark_low_confidence(ctx.hits)
        hits = sorted(
            (h for hs in ctx.hits.values() for h in hs),
            key=lambda h: (h.turn if h.turn is not None else -1, h.start or 0, h.rule_id),
        )
        if trace is not None:
            trace.hits(hits)
        return hits

    def _result(self, ctx: InspectionContext, hits: list[Hit], satisfaction: SatisfactionResult | None) -> Result:
        interaction = ctx.interaction
        card = self.scorecards[interaction.channel]
        script = card.script_result(ctx.hits)
        emotion = trajectory(ctx.emotions, self.emotion_scorer.source)
        roles = [t.role for t in interaction.turns]
        dimensions, score, flag, critical = card.score(ctx.hits, script, emotion, roles, self.rule_dimensions, satisfaction)
        return Result(
            interaction_id=interaction.interaction_id,
            agent_id=interaction.agent_id,
            team_id=interaction.team_id,
            channel=interaction.channel,
            score=score,
            flag=flag,
            critical=critical,
            dimensions=dimensions,
            hits=hits,
            script=script,
            emotion=emotion,
            satisfaction=satisfaction,
            stats=_stats(interaction, hits, emotion),
            versions=self.versions,
        )

    def _satisfaction(self, ctx: InspectionContext, hits: list[Hit]) -> SatisfactionResult | None:
        """The predicted customer satisfaction from what the rules and the emotion scorer found."""
        if self.satisfaction is None:
            return None
        from qa_engine.ml.satisfaction import parts_of

        p = self.satisfaction.predict(parts_of([v.role for v in ctx.turns], [v.text for v in ctx.turns], ctx.emotions, hits))
        # model_construct: the model's values are in range by construction (predicted clamped to -2..2,
        # dissatisfied a logistic), so pydantic's validation of them is skipped; the same object
        return SatisfactionResult.model_construct(
            predicted=p.predicted, dissatisfied=p.dissatisfied, source=self.satisfaction.source, evidence=p.evidence
        )


_SEVERITY_RANK = {"info": 0, "minor": 1, "major": 2, "critical": 3}


def _trace_scope(trace: RuleTrace, spec, ctx: InspectionContext, selected: list) -> None:
    """Turns of the rule's roles that its scope leaves out."""
    if spec.scope == Scope():
        return
    chosen = {v.index for v in selected}
    scope = spec.scope.model_dump(exclude_none=True)
    for view in ctx.turns_of(tuple(spec.roles)):
        if view.index not in chosen:
            trace.note(spec.id, view.index, "scope", False, f"not selected: outside the rule's scope {scope}")


def _run_all(work: list[Staged]) -> None:
    for w in work:
        w.run()


def _drop_contained(hits: dict[str, list[Hit]], groups: dict[str, str]) -> None:
    """One finding per piece of evidence: within a rule group, a hit whose span lies inside a hit
    of another rule on the same turn is dropped when that other hit ranks higher: more severe
    first (a critical keyword is never lost to a milder paraphrase match), then longer, then the
    earlier rule."""
    spans: dict[tuple[str, int], list[tuple[int, int, int, int, str]]] = {}
    for order, (rule_id, rule_hits) in enumerate(hits.items()):
        for h in rule_hits:
            if h.turn is not None and h.start is not None and h.end is not None:
                spans.setdefault((groups[rule_id], h.turn), []).append(
                    (h.start, h.end, _SEVERITY_RANK[h.severity], order, rule_id)
                )
    if len(spans) == sum(map(len, spans.values())):  # one span per group and turn: none inside another
        return

    def covered(h: Hit, order: int) -> bool:
        assert h.turn is not None and h.start is not None and h.end is not None  # called for located hits
        mine = (_SEVERITY_RANK[h.severity], h.end - h.start, -order)
        for start, end, rank, other_order, other_rule in spans.get((groups[h.rule_id], h.turn), ()):
            if other_rule != h.rule_id and start <= h.start and h.end <= end and (rank, end - start, -other_order) > mine:
                return True
        return False

    for order, rule_id in enumerate(list(hits)):
        if hits[rule_id]:  # most rules have no hit in an interaction
            hits[rule_id] = [h for h in hits[rule_id] if h.turn is None or h.start is None or not covered(h, order)]


def _stats(interaction: Interaction, hits: list[Hit], emotion) -> Stats:
    """Counts behind the KPIs (礼貌用语使用率, 禁语, empathy rate, silence, ...)."""
    turns = interaction.turns
    agent_turns = {i for i, t in enumerate(turns) if t.role == "agent"}

    def turns_with(dimension: str, severity_info: bool | None = None) -> set[int]:
        return {
            h.turn
            for h in hits
            if h.dimension == dimension
            and h.turn in agent_turns
            and (severity_info is None or (h.severity == "info") == severity_info)
        }

    n_agent = len(agent_turns)
    polite, empathy = len(turns_with("politeness", True)), len(turns_with("empathy", True))
    stats = Stats(
        turns=len(turns),
        agent_turns=n_agent,
        customer_turns=len(turns) - n_agent,
        polite_turns=polite,
        forbidden_hits=sum(1 for h in hits if h.dimension == "forbidden_words"),
        empathy_turns=empathy,
        customer_negative_turns=sum(1 for e in emotion.turns if e.role == "customer" and e.polarity == "negative"),
        politeness_rate=round(polite / n_agent, 4) if n_agent else 0.0,
        empathy_rate=round(empathy / n_agent, 4) if n_agent else 0.0,
    )
    if timing.timed(turns):
        gap_list = timing.gaps(turns)
        stats.duration_s = round(max(timing.span(t)[1] for t in turns) - min(timing.span(t)[0] for t in turns), 2)
        stats.silence_max_s = round(max((g.seconds for g in gap_list), default=0.0), 2)
        stats.silence_total_s = round(sum(g.seconds for g in gap_list), 2)
        stats.interruptions = len(timing.overlaps(turns))
        agent_talk = timing.talk_seconds(turns, "agent")
        customer_talk = timing.talk_seconds(turns, "customer")
        stats.agent_talk_s = round(agent_talk, 2)
        stats.customer_talk_s = round(customer_talk, 2)
        if customer_talk > 0:
            stats.talk_ratio = round(agent_talk / customer_talk, 3)
        agent_cpm = timing.chars_per_minute(turns, "agent")
        customer_cpm = timing.chars_per_minute(turns, "customer")
        stats.agent_cpm = round(agent_cpm, 1) if agent_cpm is not None else None
        stats.customer_cpm = round(customer_cpm, 1) if customer_cpm is not None else None
        delays = timing.reply_delays(turns)
        if delays:
            stats.first_response_s = round(delays[0][1], 2)
            stats.reply_avg_s = round(sum(d for _, d in delays) / len(delays), 2)
    return stats
