"""`qa-engine score --trace` and the RuleTrace behind it: why a hit exists or does not."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from conftest import chat

from qa_engine.trace import RuleTrace

REPO = Path(__file__).resolve().parents[1]


def _traced(inspector, *turns):
    trace = RuleTrace()
    result = inspector.inspect(chat(*turns), trace=trace)
    return result, trace


def test_a_negated_phrase_is_traced_as_dropped_and_a_real_one_as_a_hit(inspector):
    result, trace = _traced(inspector, ("agent", "我不想跟你道歉"), ("agent", "这不是我们的问题"))
    apology = [d for d in trace.decisions if d.rule_id == "politeness.apology" and d.turn == 0]
    assert [(d.step, d.kept) for d in apology] == [("negation", False)]
    assert "「道歉」" in apology[0].detail and "negated" in apology[0].detail
    assert not [h for h in result.hits if h.rule_id == "politeness.apology"]
    deflect = [(d.step, d.kept) for d in trace.decisions if d.rule_id == "forbidden.deflect" and d.turn == 1]
    assert deflect == [("phrase", True), ("hit", True)]
    # the models are not asked about a turn a phrase already flags (the forbidden pack's unless)
    vetoed = [d for d in trace.decisions if d.rule_id == "forbidden.model_deflect" and d.turn == 1]
    assert [(d.step, d.kept) for d in vetoed] == [("unless", False)] and "forbidden.deflect" in vetoed[0].detail


def test_a_model_score_under_its_threshold_is_traced(inspector):
    result, trace = _traced(inspector, ("customer", "我的快递到哪了"), ("agent", "好的，我帮您查一下物流信息"))
    model = [d for d in trace.decisions if d.rule_id == "forbidden.model_deflect" and d.turn == 1]
    assert [(d.step, d.kept) for d in model] == [("model", False)]
    assert "违规概率" in model[0].detail and "< threshold" in model[0].detail
    assert not [h for h in result.hits if h.dimension == "forbidden_words"]


def test_a_hit_contained_in_a_stronger_one_is_traced_as_dropped(inspector):
    result, trace = _traced(inspector, ("agent", "这是你自己的问题"))
    dropped = [d for d in trace.decisions if d.step == "contained"]
    assert [(d.rule_id, d.kept) for d in dropped] == [("forbidden.blame", False)]
    assert [h.rule_id for h in result.hits if h.dimension == "forbidden_words"] == ["forbidden.blame_pattern"]


def test_tracing_changes_no_result(inspector):
    item = chat(("customer", "太慢了，气死我了"), ("agent", "非常抱歉让您久等了"), ("agent", "这不是我们的问题"))
    assert inspector.inspect(item, trace=RuleTrace()) == inspector.inspect(item)


def test_cli_score_trace_prints_the_decisions_per_turn(tmp_path):
    source = tmp_path / "in.jsonl"
    source.write_text(json.dumps({"interaction_id": "neg", "channel": "chat", "turns": [
        {"role": "agent", "text": "我不想跟你道歉"}, {"role": "agent", "text": "这不是我们的问题"}]}, ensure_ascii=False) + "\n",
        encoding="utf-8")
    run = subprocess.run([sys.executable, "-m", "qa_engine", "score", "--trace", str(source)], cwd=REPO, check=False,
                         capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(REPO)}, timeout=300)
    assert run.returncode == 0, run.stderr
    result = json.loads(run.stdout)  # the results stay JSON Lines on stdout, the trace goes to stderr
    assert result["interaction_id"] == "neg"
    lines = run.stderr.splitlines()
    assert lines[0].startswith("== neg (chat, 2 turns)")
    turn0 = lines.index("turn 0 agent: 我不想跟你道歉")
    turn1 = lines.index("turn 1 agent: 这不是我们的问题")
    assert any("politeness.apology" in line and "negation" in line and " - " in line for line in lines[turn0:turn1])
    assert any("forbidden.deflect" in line and "hit" in line and " + " in line for line in lines[turn1:])
