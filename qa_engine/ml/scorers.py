"""The engine's model scorer factory: the emotion scorer named by settings.emotion_scorer and the
satisfaction model when settings.satisfaction is on, each with the command that builds a missing one."""

from __future__ import annotations

from qa_engine.config import Settings
from qa_engine.ml.emotion import EmotionScorer, LexiconEmotionScorer
from qa_engine.rulepack import RulePackError

# settings.emotion_scorer -> (model folder under settings.models_dir, command that builds it).
EMOTION_MODELS: dict[str, tuple[str, str]] = {
    "lstm": ("emotion_lstm", ".venv/bin/python -m training.train_lstm --out models/emotion_lstm"),
    "transformer": ("emotion_e5", ".venv/bin/python -m training.train_e5_emotion --out models/emotion_e5"),
}
EMOTION_SCORERS = ("lexicon", *EMOTION_MODELS)


class EmotionModelMissing(FileNotFoundError):
    """The selected emotion model has not been built (artifacts over 50 MB are not committed)."""


def make_emotion_scorer(name: str, settings: Settings) -> EmotionScorer:
    if name == "lexicon":
        return LexiconEmotionScorer(settings.lexicons_dir)
    if name not in EMOTION_MODELS:
        raise RulePackError(f"unknown emotion scorer {name!r}; available: {', '.join(EMOTION_SCORERS)}")
    folder, build = EMOTION_MODELS[name]
    model_dir = settings.models_dir / folder
    if not (model_dir / "model.onnx").is_file():
        raise EmotionModelMissing(
            f"emotion model {name!r} not built: {model_dir / 'model.onnx'} is missing; build it with `{build}`"
        )
    from qa_engine.ml.emotion_onnx import OnnxEmotionScorer  # onnxruntime only when a model is selected

    scorer: EmotionScorer = OnnxEmotionScorer(model_dir, threads=settings.onnx_threads)
    if settings.emotion_customer_cues:
        from qa_engine.ml.customer_cues import CustomerCueEmotionScorer, CustomerCues

        scorer = CustomerCueEmotionScorer(scorer, CustomerCues(settings.lexicons_dir))
    return scorer


class SatisfactionModelMissing(FileNotFoundError):
    """settings.satisfaction is on but the satisfaction model folder is missing."""


def make_satisfaction_model(settings: Settings):
    """The satisfaction model (qa_engine.ml.satisfaction), or None when settings.satisfaction is off."""
    if not settings.satisfaction:
        return None
    from qa_engine.ml.satisfaction import BUILD, MODEL_FOLDER, SatisfactionModel

    model_dir = settings.models_dir / MODEL_FOLDER
    if not (model_dir / "model.onnx").is_file():
        raise SatisfactionModelMissing(
            f"satisfaction model not built: {model_dir / 'model.onnx'} is missing; build it "
            f"with `{BUILD}` or set QA_SATISFACTION=false"
        )
    return SatisfactionModel(model_dir)
