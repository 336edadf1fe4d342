"""Throughput of text scoring on the 800 real JD chat sessions, one process.

Baselines, in the same run: naive scorers that loop over lexicon entries with Python's `in`
(no normalisation, no word boundaries, no negation, no scoring):
  A. the rule word lists (lexicons/words) on every agent turn: the least a keyword checker does;
  B. the same lexicons the engine matches: A plus the emotion lexicon (DUTIR words and our cue
     lists) on every turn.
A's lookups are also timed done the engine's way (normalisation, then one Aho-Corasick pass of a
PhraseIndex over the same entries, every occurrence with its offsets): the matcher against the loop.
The predicted-satisfaction model's cost: the engine timed with it and without it, repeats
interleaved (on a shared machine the load drifts between runs), and the model alone (CPU per
interaction on the engine's own inputs). CPU seconds per 1,000 interactions in one process, with the
engine's background threads and on one thread, and the wall throughput of `qa-engine score --workers 2`
(qa_engine.parallel: spawned processes, each on one thread).
Run: .venv/bin/python bench/score_text.py [--repeat 5] [--workers 2]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from qa_datasets.jddc import load_sessions  # noqa: E402
from qa_engine.config import Settings  # noqa: E402
from qa_engine.engine import Inspector, shorten_gil_switch  # noqa: E402
from qa_engine.schema import Interaction  # noqa: E402
from qa_engine.text.lexicon import PhraseIndex, load_word_list  # noqa: E402
from qa_engine.text.normalize import _normalize_cached, normalize  # noqa: E402


def naive_baseline(interactions: list[Interaction], agent_words: list[str], all_turn_words: list[str]) -> int:
    found = 0
    for item in interactions:
        for turn in item.turns:
            if turn.role == "agent":
                for w in agent_words:
                    if w in turn.text:
                        found += 1
            for w in all_turn_words:
                if w in turn.text:
                    found += 1
    return found


CPU: dict[str, float] = {}  # label -> best CPU seconds of this process (all its threads)


def best_of(repeat: int, fn, label: str = "") -> float:
    times, cpu = [], []
    for _ in range(repeat):
        t0, c0 = time.perf_counter(), time.process_time()
        fn()
        times.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
    CPU[label] = min(cpu)
    return min(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--limit", type=int, default=None, help="only the first N sessions (the classifier rules are slow)")
    ap.add_argument("--workers", type=int, default=2, help="also time `qa-engine score --workers N` (1: skip)")
    ap.add_argument("--workers-repeat", type=int, default=4, help="copies of the sessions scored by the processes")
    args = ap.parse_args()

    interactions = [Interaction.model_validate(s) for s in load_sessions()][: args.limit]
    t0 = time.perf_counter()
    inspector = Inspector(Settings())
    load_s = time.perf_counter() - t0
    shorten_gil_switch(inspector.settings)  # as `qa-engine score` does for its process
    words_dir = inspector.settings.lexicons_dir / "words"
    rule_files = [f for f in words_dir.glob("*.txt") if not f.name.endswith(".regex.txt") and not f.name.startswith("emotion_")]
    words = sorted({w for f in rule_files for w in load_word_list(f)})
    # baseline B's emotion words: the lexicon scorer's, whichever emotion scorer the engine runs
    from qa_engine.ml.emotion import LexiconEmotionScorer

    scorer = inspector.emotion_scorer
    lexicon_scorer = scorer if isinstance(scorer, LexiconEmotionScorer) else LexiconEmotionScorer(inspector.settings.lexicons_dir)
    emotion_words = sorted(lexicon_scorer.automaton.keys())

    inspector.inspect(interactions[0])  # warm caches (jieba, OpenCC)
    # Model-backed rules (the `classifier` operator) and the emotion model: every repeat starts with
    # empty prediction caches and text memos, as a batch of unseen interactions would (the n-gram
    # hash tables and jieba's dictionary stay loaded); the engine without the classifier rules is
    # timed as well.
    all_rules = inspector.ruleset.rules
    model_rules = [r for r in all_rules if r.name == "classifier"]

    def clear_caches(engine: Inspector = inspector) -> None:
        if engine.satisfaction is not None:  # its per-text n-gram cache
            engine.satisfaction.cache_clear()
        for rule in engine.ruleset.rules:  # the classifier rules' prediction caches
            rule.cache_clear()
        engine.emotion_scorer.cache_clear()  # the LSTM scorer's per-text cache
        # and the per-text memos of the text side: each repeat is a first pass over the sessions
        _normalize_cached.cache_clear()
        engine.segmenter.cache_clear()

    def score_all() -> None:
        clear_caches()
        # Streamed like `qa-engine score` (and the API's queue, a rescore): inspect_many, each result
        # serialised, then dropped.
        for result in inspector.inspect_many(interactions):
            result.model_dump_json()

    def score_one_by_one() -> None:
        clear_caches()
        # One inspect() call per interaction, as the API's synchronous POST /v1/interactions does.
        for item in interactions:
            inspector.inspect(item).model_dump_json()

    engine_s = best_of(args.repeat, score_all, "engine")
    satisfaction = inspector.satisfaction
    with_sat, without_sat = [], []  # (wall, CPU) of each run
    if satisfaction is not None:
        for k in range(args.repeat):  # interleaved pairs, which one goes first alternating
            for on in ((True, False) if k % 2 == 0 else (False, True)):
                inspector.satisfaction = satisfaction if on else None
                wall = best_of(1, score_all, "pair")
                (with_sat if on else without_sat).append((wall, CPU["pair"]))
        inspector.satisfaction = satisfaction
        from qa_engine.ml.satisfaction import parts_of

        parts = []
        for item, result in zip(interactions, inspector.inspect_many(interactions)):
            parts.append(parts_of([t.role for t in item.turns], [normalize(t.text).text for t in item.turns],
                                  result.emotion.turns, result.hits))
        def model_only() -> None:  # as inspect_many runs it: cold cache, filled per chunk of 128
            satisfaction.cache_clear()
            for a in range(0, len(parts), 128):
                satisfaction.warm([t for p in parts[a : a + 128] for t in p.texts])
                for p in parts[a : a + 128]:
                    satisfaction.predict(p)

        model_s = best_of(args.repeat, model_only, "satisfaction_model")
    single_s = best_of(args.repeat, score_one_by_one, "single")
    # One process without background threads (what each `--workers N` process runs): its CPU per
    # interaction is the cost that processes multiply into throughput.
    plain = Inspector(inspector.settings, background_threads=False)

    def score_plain() -> None:
        clear_caches(plain)
        for result in plain.inspect_many(interactions):
            result.model_dump_json()

    plain_s = best_of(args.repeat, score_plain, "plain")
    workers_s = workers_first = None
    if args.workers > 1:
        import tempfile

        from qa_engine.parallel import score_in_processes

        copies = [Interaction.model_validate({**i.model_dump(), "interaction_id": f"{i.interaction_id}-{r}"})
                  for r in range(args.workers_repeat) for i in interactions]
        t0 = time.perf_counter()
        first = None
        for ok, _text in score_in_processes(iter(copies), inspector.settings, args.workers, Path(tempfile.gettempdir())):
            assert ok
            first = first or time.perf_counter()
        workers_s, workers_first = time.perf_counter() - t0, first - t0
    no_model_s = None
    if model_rules:
        inspector.ruleset.rules = [r for r in all_rules if r.name != "classifier"]
        no_model_s = best_of(args.repeat, score_all, "no_model")  # inspect_many
        inspector.ruleset.rules = all_rules
    naive_a = best_of(args.repeat, lambda: naive_baseline(interactions, words, []))

    # baseline A's job done the engine's way: each agent turn normalised (cold cache), then one
    # Aho-Corasick pass (the engine's PhraseIndex) finds every occurrence of the same entries
    same_words = PhraseIndex()
    same_words.add_list("baseline_a", words)
    same_words.build()

    def indexed_lookups() -> int:
        _normalize_cached.cache_clear()
        return sum(len(same_words.find(normalize(t.text).text)) for i in interactions for t in i.turns
                   if t.role == "agent")

    lookups_s = best_of(args.repeat, indexed_lookups)
    naive_b = best_of(1, lambda: naive_baseline(interactions, words, emotion_words))
    n = len(interactions)
    turns = sum(len(i.turns) for i in interactions)
    print(f"sessions {n}, turns {turns}, rule lexicon entries {len(words)}, emotion lexicon entries {len(emotion_words)}, rules {len(inspector.ruleset.rules)}")
    print(f"engine load (rules, jieba, lexicons): {load_s:.2f} s")
    print(f"engine: {engine_s:.3f} s -> {n / engine_s:,.0f} interactions/s  (full scoring: rules, emotion, scorecard; "
          f"inspect_many; emotion scorer {inspector.emotion_scorer.source}, {inspector.settings.onnx_threads} onnx threads; "
          f"CPU {CPU['engine']:.2f} s)")
    print(f"CPU seconds per 1,000 interactions, one process: {1000 * CPU['engine'] / n:.2f} (inspect_many with its "
          f"background threads), {1000 * CPU['plain'] / n:.2f} (inspect_many on one thread: {n / plain_s:,.0f} interactions/s)")
    if workers_s is not None:
        m = n * args.workers_repeat
        print(f"`score --workers {args.workers}` (qa_engine.parallel, {m} interactions): {workers_s:.2f} s -> {m / workers_s:,.0f} "
              f"interactions/s with the processes' start; {m / (workers_s - workers_first):,.0f}/s after the first result "
              f"({workers_first:.1f} s: spawn, models loaded, first chunk)")
    print(f"engine, one inspect() call per interaction: {single_s:.3f} s -> {n / single_s:,.0f} interactions/s "
          f"(CPU {CPU['single']:.2f} s)")
    if with_sat:
        from statistics import median

        def added(k: int, pick) -> float:  # the model's share: with / without - 1, of the pick of each side
            return 100 * (pick(r[k] for r in with_sat) / pick(r[k] for r in without_sat) - 1)

        on, off = min(r[0] for r in with_sat), min(r[0] for r in without_sat)
        print(f"engine with the satisfaction model: {on:.3f} s -> {n / on:,.0f} interactions/s; without it: {off:.3f} s -> "
              f"{n / off:,.0f} interactions/s; the model adds {added(0, min):+.1f} % wall time, {added(1, min):+.1f} % CPU "
              f"(best of {args.repeat} interleaved pairs; medians: {added(0, median):+.1f} % wall, {added(1, median):+.1f} % CPU)")
        print(f"satisfaction model alone ({satisfaction.source}): {1e6 * model_s / n:,.0f} us per interaction "
              f"(CPU {1e6 * CPU['satisfaction_model'] / n:,.0f} us; cold per-text cache filled per chunk of 128, features, evidence)")
    if no_model_s is not None:
        print(f"engine without the {len(model_rules)} classifier rules: {no_model_s:.3f} s -> {n / no_model_s:,.0f} interactions/s "
              f"(the classifier costs {engine_s / no_model_s:.1f}x; cold prediction cache each repeat; CPU {CPU['no_model']:.2f} s)")
    print(f"baseline A, `in` over rule lexicons: {naive_a:.3f} s -> {n / naive_a:,.0f} interactions/s")
    print(f"the same lookups the engine's way (normalisation + one Aho-Corasick pass over the same {len(words)} "
          f"entries, agent turns): {lookups_s:.3f} s -> {n / lookups_s:,.0f} interactions/s "
          f"({naive_a / lookups_s:.1f}x baseline A)")
    print(f"baseline B, `in` over all lexicons the engine matches: {naive_b:.3f} s -> {n / naive_b:,.0f} interactions/s")
    print(f"load average {' '.join(f'{x:.2f}' for x in __import__('os').getloadavg())}")
    print(f"engine throughput / baseline A: {naive_a / engine_s:.2f}x; / baseline B: {naive_b / engine_s:.2f}x")


if __name__ == "__main__":
    main()
