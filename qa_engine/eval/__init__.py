"""Accuracy of the engine on labelled data (`qa-engine eval`): the rules on labelled agent turns
(`evaluation`), the emotion scorers (`emotion_eval`), the satisfaction model (`satisfaction_eval`).
"""
