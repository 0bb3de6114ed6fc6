"""The pure core: the flag model, conditions, hashing, assignment and the evaluation engine.

Standard library only (plus the optional ``fnv-hash-fast`` accelerator); imports nothing else
of rampgate but ``rampgate.errors``.
"""

from .engine import CompiledFlag, Ruleset, compile_flag, compile_ruleset
from .frozen import FrozenDict, freeze, thaw
from .model import (
    Context,
    Environment,
    Evaluation,
    Flag,
    Namespace,
    Pin,
    Portion,
    Prerequisite,
    Reason,
    Rule,
    ShadowConfig,
    Split,
    SplitFilter,
)
from .shadow import (
    ShadowArm,
    ShadowMeasure,
    ShadowStatus,
    parse_shadow_event,
    shadow_event,
    shadow_pair_event,
)

__all__ = [
    "CompiledFlag",
    "Context",
    "Environment",
    "Evaluation",
    "Flag",
    "FrozenDict",
    "Namespace",
    "Pin",
    "Portion",
    "Prerequisite",
    "Reason",
    "Rule",
    "Ruleset",
    "ShadowArm",
    "ShadowConfig",
    "ShadowMeasure",
    "ShadowStatus",
    "Split",
    "SplitFilter",
    "compile_flag",
    "compile_ruleset",
    "freeze",
    "parse_shadow_event",
    "shadow_event",
    "shadow_pair_event",
    "thaw",
]
