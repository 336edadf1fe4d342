"""Rule operators. Importing this package registers every built-in operator."""

from qa_engine.rules import classifier, logic, signals, similar, text  # noqa: F401  (registration side effect)
from qa_engine.rules.base import (
    OPERATORS,
    Resources,
    RuleOperator,
    RuleSpec,
    Scope,
    register,
    select_turns,
    vetoed_turns,
    vetoing_rules,
)

__all__ = [
    "OPERATORS",
    "Resources",
    "RuleOperator",
    "RuleSpec",
    "Scope",
    "register",
    "select_turns",
    "vetoed_turns",
    "vetoing_rules",
]
