"""Models served at runtime (onnxruntime, never torch): the per-text output cache (`text_cache`),
sentence embeddings (`embedder`), turn classifiers (`turn_classifier`), the agent-or-customer
classifier (`role_classifier`), emotion scorers (`emotion`, `emotion_onnx`), predicted satisfaction
(`satisfaction`), model folder digests (`model_digest`) and the engine's scorer factory (`scorers`).
"""
