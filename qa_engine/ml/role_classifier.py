"""Agent-or-customer text classifier: character 1–2-gram naive Bayes, weights in a small JSON.

Trained on the agent/customer labels of the real JD chats (training/train_role.py); used to give
roles to mono call transcripts, together with turn alternation (qa_engine/asr/roles.py).
"""

from __future__ import annotations

import json
import math
import re
from functools import lru_cache
from pathlib import Path

from qa_engine.text.normalize import normalize

_PLACEHOLDER = re.compile(r"\[[^\]]{1,12}x\]")  # JD masking such as [订单x] carries no role signal
_DROP = re.compile(r"[\s,.!?;:~，。！？；：、\"'“”‘’()（）\[\]【】]")


def features(text: str) -> list[str]:
    t = _DROP.sub("", _PLACEHOLDER.sub("", normalize(text).text))
    return list(t) + [t[i : i + 2] for i in range(len(t) - 1)]


class RoleClassifier:
    def __init__(self, prior_agent: float, agent: dict[str, float], customer: dict[str, float], unseen: tuple[float, float]):
        self.log_prior = (math.log(prior_agent), math.log(1 - prior_agent))
        self.agent, self.customer = agent, customer
        self.unseen = unseen

    @classmethod
    def load(cls, path: Path) -> RoleClassifier:
        data = json.loads(path.read_text(encoding="utf-8"))
        return cls(data["prior_agent"], data["agent"], data["customer"], tuple(data["unseen"]))

    @classmethod
    @lru_cache(maxsize=4)
    def default(cls, models_dir: Path) -> RoleClassifier:
        """The committed classifier (models_dir/role_classifier), loaded once per models folder."""
        return cls.load(models_dir / "role_classifier" / "model.json")

    def agent_probability(self, text: str) -> float:
        """P(agent | text), from the mean per-feature log-likelihood ratio: naive Bayes summed over
        overlapping n-grams is wildly overconfident, and the mono role decoder weighs this
        probability against turn alternation, so it must stay soft."""
        la, lc = self.log_prior
        feats = features(text)
        for f in feats:
            la += self.agent.get(f, self.unseen[0])
            lc += self.customer.get(f, self.unseen[1])
        diff = max(-50.0, min(50.0, (lc - la) / max(1, len(feats))))
        return 1.0 / (1.0 + math.exp(diff))
