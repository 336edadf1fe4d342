"""The declared extension points, used from outside the package as a contact centre would: a new rule
operator (RuleOperator + register, configured from a YAML pack) and a new emotion scorer (an
EmotionScorer subclass handed to the Inspector), through the base classes' signatures only."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Sequence

import pytest
from conftest import chat, rule_ids

from qa_engine.config import Settings
from qa_engine.context import InspectionContext, TurnView
from qa_engine.engine import Inspector
from qa_engine.ml.emotion import EmotionScorer
from qa_engine.rules import OPERATORS, RuleOperator, register
from qa_engine.schema import Hit, TurnEmotion


@pytest.fixture
def exclamation_operator():
    """An operator counting exclamation marks in a turn: a hit at `at_least` of them, on the last one."""

    @register("exclamations")
    class ExclamationOperator(RuleOperator):
        class Params(RuleOperator.Params):
            at_least: int = 2

        def evaluate(self, ctx: InspectionContext, turns: list[TurnView]) -> list[Hit]:
            hits = []
            for view in turns:
                marks = [i for i, ch in enumerate(view.text) if ch in "!！"]
                if len(marks) >= self.params.at_least:
                    hits.append(self.turn_hit(view, marks[-1], marks[-1] + 1, score=min(1.0, len(marks) / 5)))
            return hits

    yield ExclamationOperator
    del OPERATORS["exclamations"]


def test_a_new_operator_is_configured_from_a_pack_and_explains_its_hits(tmp_path, exclamation_operator):
    settings = Settings()
    pack = tmp_path / "shouting.yaml"
    pack.write_text(
        "pack: shouting\nversion: '1'\nrules:\n"
        "  - id: shouting.agent_exclaims\n    dimension: politeness\n    operator: exclamations\n"
        "    roles: [agent]\n    severity: minor\n    at_least: 3\n"
        "    explanation: '坐席连用感叹号（第 {turn} 轮，{role}）'\n",
        encoding="utf-8",
    )
    packs = [settings.lexicons_dir / "packs" / f"{p}.yaml" for p in settings.rule_packs] + [pack]
    inspector = Inspector(settings, pack_paths=packs)
    item = chat(("customer", "怎么还没到！！！"), ("agent", "您好，已经在催了！！！"), ("agent", "请稍等！"))
    result = inspector.inspect(item)
    mine = [h for h in result.hits if h.rule_id == "shouting.agent_exclaims"]
    # agent turns only, at the threshold of 3; the explanation template filled in by the base class
    assert [(h.turn, h.explanation, h.score) for h in mine] == [(1, "坐席连用感叹号（第 1 轮，agent）", 0.6)]
    assert item.turns[1].text[mine[0].start : mine[0].end] == "！"
    assert result.versions["packs"]["shouting"] == "1"
    # the batched path stages nothing for it and gives the same hits
    assert [h.model_dump() for h in next(inspector.inspect_many([item])).hits] == [h.model_dump() for h in result.hits]


def test_a_pack_naming_an_unregistered_operator_is_refused_with_the_known_ones(tmp_path):
    from qa_engine.rulepack import RulePackError

    pack = tmp_path / "x.yaml"
    pack.write_text("rules:\n  - id: x.y\n    dimension: politeness\n    operator: exclamations\n", encoding="utf-8")
    with pytest.raises(RulePackError, match=r"x.yaml rule #1 \(x.y\): unknown operator 'exclamations'; known: .*classifier"):
        Inspector(Settings(), pack_paths=[pack])


class ExclamationEmotion(EmotionScorer):
    """A scorer implementing only what EmotionScorer requires: `source` and `score`."""

    source = "test:exclamations"

    def score(self, turns: Sequence[TurnView]) -> list[TurnEmotion]:
        # v.text is the normalised text (full-width ！ is folded to !)
        return [TurnEmotion(turn=v.index, role=v.role, label="angry" if "!" in v.text else "neutral",
                            polarity="negative" if "!" in v.text else "neutral", confidence=0.9) for v in turns]


def test_a_new_emotion_scorer_drives_the_emotion_rules_on_both_paths():
    inspector = Inspector(Settings(), emotion_scorer=ExclamationEmotion())
    item = chat(("agent", "您好，请问有什么可以帮您"), ("customer", "都六天了！"), ("agent", "非常抱歉，马上为您处理"))
    one = inspector.inspect(item)
    assert one.emotion.source == "test:exclamations" == one.versions["models"]["emotion"]
    assert [(e.turn, e.polarity) for e in one.emotion.turns] == [(0, "neutral"), (1, "negative"), (2, "neutral")]
    assert "emotion.customer_negative" in rule_ids(one, 1)
    many = next(inspector.inspect_many([item]))
    assert many.model_dump(exclude={"versions"}) == one.model_dump(exclude={"versions"})
    calm = inspector.inspect(chat(("agent", "您好"), ("customer", "都六天了")))
    assert "emotion.customer_negative" not in rule_ids(calm)


def test_every_operator_module_of_the_package_is_imported_by_qa_engine_rules():
    """Built-in operators register when their module is imported, and `qa_engine.rules` imports them
    by name: a new module under qa_engine/rules/ must be added to that import list (this fails if not)."""
    code = ("import pkgutil, sys, qa_engine.rules as r; "
            "print(sorted(m.name for m in pkgutil.iter_modules(r.__path__) if f'qa_engine.rules.{m.name}' not in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == "[]", f"modules not imported by qa_engine/rules/__init__.py: {out}"
