"""rampgate — ship changes to AI agents safely.

The front door: everything a service needs to evaluate flags and report outcomes. Deeper
layers (``rampgate.domain``, ``rampgate.config``, ``rampgate.stats``…) are importable for
advanced use; what is listed here is the stable surface, pinned by a test.
"""

from ._version import __version__
from .config import Config, load_file
from .domain import (
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
    thaw,
)
from .errors import (
    ClientClosedError,
    ConditionError,
    ConfigError,
    FlagNotFoundError,
    RampgateError,
    SchemaError,
)
from .sdk import (
    Client,
    ClientSettings,
    JsonlSink,
    LruPinStore,
    RemoteSettings,
    ShadowSettings,
    exact_match,
    text_similarity,
)

__all__ = [
    "Client",
    "ClientClosedError",
    "ClientSettings",
    "ConditionError",
    "Config",
    "ConfigError",
    "Context",
    "Environment",
    "Evaluation",
    "Flag",
    "FlagNotFoundError",
    "JsonlSink",
    "LruPinStore",
    "Namespace",
    "Pin",
    "Portion",
    "Prerequisite",
    "RampgateError",
    "Reason",
    "RemoteSettings",
    "Rule",
    "SchemaError",
    "ShadowConfig",
    "ShadowSettings",
    "Split",
    "__version__",
    "exact_match",
    "load_file",
    "text_similarity",
    "thaw",
]
