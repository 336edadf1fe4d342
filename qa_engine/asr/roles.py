"""Roles for mono calls: a text role classifier combined with turn alternation (Viterbi)."""

from __future__ import annotations

import math

from qa_engine.asr.backend import Segment

# A speaker change is likely after a real pause, unlikely after a short breath inside a turn.
P_SWITCH_AFTER_PAUSE = 0.6
P_SWITCH_SHORT = 0.2
PAUSE_SECONDS = 0.3  # voice-activity regions carry 0.1 s padding on each side
P_FIRST_AGENT = 0.8  # calls open with the agent's greeting


def assign_roles(segs: list[Segment], classifier) -> None:
    """Sets each segment's role from `classifier` (a RoleClassifier) and turn alternation."""
    probs = [classifier.agent_probability(s.text) for s in segs]
    roles = ("agent", "customer")

    # Viterbi over two states with log probabilities.
    def emit(i: int, r: int) -> float:
        p = min(max(probs[i], 1e-4), 1 - 1e-4)
        return math.log(p if r == 0 else 1 - p)

    score = [math.log(P_FIRST_AGENT) + emit(0, 0), math.log(1 - P_FIRST_AGENT) + emit(0, 1)]
    back: list[list[int]] = []
    for i in range(1, len(segs)):
        new, ptr = [], []
        p_switch = P_SWITCH_AFTER_PAUSE if segs[i].start - segs[i - 1].end >= PAUSE_SECONDS else P_SWITCH_SHORT
        for r in (0, 1):
            stay, switch = score[r] + math.log(1 - p_switch), score[1 - r] + math.log(p_switch)
            ptr.append(r if stay >= switch else 1 - r)
            new.append(max(stay, switch) + emit(i, r))
        score, back = new, back + [ptr]
    state = 0 if score[0] >= score[1] else 1
    path = [state]
    for ptr in reversed(back):
        state = ptr[state]
        path.append(state)
    for seg, r in zip(segs, reversed(path)):
        seg.role = roles[r]
