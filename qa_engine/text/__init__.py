"""Text before matching: normalisation with a map back to the original (`normalize`), jieba word
boundaries (`segment`), word lists and their Aho-Corasick index (`lexicon`), PII redaction (`redact`).
"""
