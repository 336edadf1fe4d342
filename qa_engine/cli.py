"""Command line: `qa-engine score | demo | schema | eval rules`."""

from __future__ import annotations

import json
import sys
from importlib import resources as ilr
from pathlib import Path

import click

from qa_engine.io import RecordError, open_input, read_interactions
from qa_engine.lexicon import LexiconError
from qa_engine.rulepack import RulePackError
from qa_engine.schema import Result, json_schemas
from qa_engine.summary import format_summary

EXAMPLES = ilr.files("qa_datasets") / "examples" / "interactions.jsonl"


def _fail(message: str, code: int = 1) -> None:
    click.echo(f"qa-engine: error: {' '.join(message.split())}", err=True)
    sys.exit(code)


def _inspector():
    from qa_engine.engine import Inspector

    try:
        return Inspector()
    except (RulePackError, LexiconError) as exc:
        _fail(f"cannot load rules: {exc}")


@click.group()
@click.version_option(package_name="qa-engine")
def main() -> None:
    """Quality inspection of Chinese customer-service calls and chats."""


@main.command()
@click.argument("input_path", metavar="INPUT")
@click.option("-o", "--output", type=click.Path(dir_okay=False, writable=True), help="write JSON Lines here instead of stdout")
@click.option("--summary/--no-summary", default=False, help="print a readable summary table (to stderr when results go to stdout)")
def score(input_path: str, output: str | None, summary: bool) -> None:
    """Score interactions from INPUT (.json, .jsonl or - for stdin); write results as JSON Lines."""
    try:
        stream = open_input(input_path)
    except OSError as exc:
        _fail(str(exc), 2)
    inspector = _inspector()
    out = open(output, "w", encoding="utf-8") if output else sys.stdout
    results: list[Result] = []
    failed = 0
    try:
        for item in read_interactions(stream, name=input_path):
            if isinstance(item, RecordError):
                failed += 1
                click.echo(f"qa-engine: {input_path}: {item}", err=True)
                continue
            try:
                result = inspector.inspect(item)
            except ValueError as exc:
                failed += 1
                click.echo(f"qa-engine: {input_path}: {exc}", err=True)
                continue
            out.write(result.model_dump_json() + "\n")
            if summary:
                results.append(result)
    finally:
        if output:
            out.close()
    if summary:
        click.echo(format_summary(results, failed), err=not output)
    if failed:
        sys.exit(1)


@main.command()
@click.option("-o", "--output", type=click.Path(dir_okay=False, writable=True), default=None, help="also write the results here")
def demo(output: str | None) -> None:
    """Score the bundled example interactions and print a readable summary."""
    inspector = _inspector()
    results = []
    with EXAMPLES.open("rb") as fh:
        for item in read_interactions(fh, name="interactions.jsonl"):
            if isinstance(item, RecordError):
                _fail(f"bundled example broken: {item}")
            results.append(inspector.inspect(item))
    click.echo(format_summary(results, 0, detail=True))
    if output:
        Path(output).write_text("".join(r.model_dump_json() + "\n" for r in results), encoding="utf-8")


@main.command()
@click.argument("model", required=False, type=click.Choice(["Interaction", "Turn", "Hit", "DimensionScore", "Result"]))
def schema(model: str | None) -> None:
    """Print the JSON Schema of the contract models (all, or one MODEL)."""
    schemas = json_schemas()
    click.echo(json.dumps(schemas[model] if model else schemas, ensure_ascii=False, indent=2))


@main.group(name="eval")
def eval_group() -> None:
    """Measure accuracy on held-out labelled data."""


@eval_group.command(name="rules")
@click.option("--split", type=click.Choice(["dev", "test", "all"]), default="test", show_default=True)
@click.option("--errors", is_flag=True, help="list the misclassified turns")
@click.option("--json", "as_json", is_flag=True, help="print the metrics as JSON")
def eval_rules(split: str, errors: bool, as_json: bool) -> None:
    """Precision and recall of forbidden-phrase and politeness rules on the labelled agent turns."""
    from qa_engine.evaluation import evaluate_rules, format_rule_report

    try:
        report = evaluate_rules(_inspector(), split)
    except (FileNotFoundError, ValueError) as exc:
        _fail(str(exc))
    click.echo(json.dumps(report, ensure_ascii=False, indent=2) if as_json else format_rule_report(report, errors))


if __name__ == "__main__":
    main()
