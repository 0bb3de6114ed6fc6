"""GrowthBook → rampgate: import feature definitions as flags that rampgate's engine evaluates.

::

    from rampgate.compat.growthbook import import_features

    flags = import_features(payload["features"], saved_groups=payload.get("savedGroups"))
    client = rampgate.Client.from_flags(flags, saved_groups=payload.get("savedGroups"))

:class:`Evaluator` evaluates a payload with rampgate and reports GrowthBook's result shapes,
to compare the two before switching; GrowthBook's shared SDK test cases run through it.
See ``docs/growthbook.md``.
"""

from .evaluator import Evaluator, UserContext
from .importer import (
    ImportedFlag,
    import_experiment,
    import_features,
    translate_experiment,
    translate_features,
)
from .names import value_name
from .runtime import RESERVED_ATTRIBUTE, StickyBucketStore
from .translate import ImportOptions, Kind, RuleInfo

__all__ = [
    "RESERVED_ATTRIBUTE",
    "Evaluator",
    "ImportOptions",
    "ImportedFlag",
    "Kind",
    "RuleInfo",
    "StickyBucketStore",
    "UserContext",
    "import_experiment",
    "import_features",
    "translate_experiment",
    "translate_features",
    "value_name",
]
