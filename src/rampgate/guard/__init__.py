"""In-process agent protection: shadow runs (circuit breaker, router, rate limit, budget next).

Imports ``domain`` and ``errors`` only; the SDK builds on it. ``Client.shadow`` and
``Client.ashadow`` are the front door to :class:`ShadowRunner`.
"""

from .compare import Comparator, check_score, exact_match, normalize_text, text_similarity
from .pool import ShadowPool
from .runner import ShadowRunner
from .shadow import ArmResult, ShadowCall, ShadowSettings, report, shadow_target

__all__ = [
    "ArmResult",
    "Comparator",
    "ShadowCall",
    "ShadowPool",
    "ShadowRunner",
    "ShadowSettings",
    "check_score",
    "exact_match",
    "normalize_text",
    "report",
    "shadow_target",
    "text_similarity",
]
