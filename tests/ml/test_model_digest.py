"""A retrained model is a new version: result.versions carries a content digest of every model folder
a result used, and the batch ledger then scores again what it would otherwise skip."""

from __future__ import annotations

import io
import json
import os
import shutil
from pathlib import Path

from qa_engine.batch.runner import BatchConfig, run_batch
from qa_engine.config import Settings
from qa_engine.engine import Inspector
from qa_engine.ml.model_digest import folder_digest
from qa_engine.schema import Interaction

REPO = Path(__file__).resolve().parents[2]
MODELS = REPO / "models"
EXAMPLES = REPO / "datasets" / "examples" / "interactions.jsonl"


def _linked_models(root: Path) -> Path:
    """A models folder whose files are links to the committed ones (no 100 MB copy)."""
    for src in MODELS.rglob("*"):
        dst = root / src.relative_to(MODELS)
        if src.is_dir():
            dst.mkdir(parents=True, exist_ok=True)
        else:
            dst.parent.mkdir(parents=True, exist_ok=True)
            os.symlink(src, dst)
    return root


def _retrain(folder: Path) -> None:
    """Stand-in for a retrain: labels.json rewritten with different content (a real file, not a link)."""
    labels = json.loads((folder / "labels.json").read_text("utf-8"))
    (folder / "labels.json").unlink()
    (folder / "labels.json").write_text(json.dumps({**labels, "retrained": "2026-12-05"}), "utf-8")


def test_folder_digest_follows_served_files_not_the_model_card(tmp_path):
    folder = tmp_path / "m"
    shutil.copytree(MODELS / "empathy_ngram", folder)
    before = folder_digest(folder)
    assert before.startswith("sha256:") and before == folder_digest(folder)
    (folder / "README.md").write_text("a rewritten model card", "utf-8")
    assert folder_digest(folder) == before
    with (folder / "model.onnx").open("ab") as fh:
        fh.write(b"\0")
    assert folder_digest(folder) != before


def test_versions_carry_a_digest_of_every_model_used_and_a_changed_file_changes_them(tmp_path):
    models = _linked_models(tmp_path / "models")
    chat = Interaction.model_validate(
        {"interaction_id": "d1", "channel": "chat",
         "turns": [{"role": "agent", "text": "您好"}, {"role": "customer", "text": "没了谢谢"}]}
    )  # fmt: skip
    before = Inspector(Settings(models_dir=models)).inspect(chat).versions
    digests = before["model_digests"]
    assert {"emotion_lstm", "forbidden_ngram", "empathy_ngram"} <= set(digests)
    assert all(d.startswith("sha256:") for d in digests.values())

    _retrain(models / "forbidden_ngram")
    after = Inspector(Settings(models_dir=models)).inspect(chat).versions
    assert after["model_digests"]["forbidden_ngram"] != digests["forbidden_ngram"]
    assert {k: v for k, v in after["model_digests"].items() if k != "forbidden_ngram"} == {
        k: v for k, v in digests.items() if k != "forbidden_ngram"
    }


def test_batch_scores_again_after_a_classifier_is_retrained(tmp_path):
    models = _linked_models(tmp_path / "models")
    source = tmp_path / "in"
    source.mkdir()
    shutil.copy(EXAMPLES, source / "interactions.jsonl")
    url = f"sqlite:///{tmp_path / 'qa.db'}"

    def run():
        config = BatchConfig(source=source, database_url=url)
        return run_batch(config, settings=Settings(models_dir=models), progress_stream=io.StringIO(), tty=False)

    first = run()
    assert first.processed > 0 and first.failed == 0
    assert run().skipped == first.processed  # same content, same models: nothing to do
    _retrain(models / "empathy_ngram")
    again = run()
    assert (again.processed, again.skipped) == (first.processed, 0)
