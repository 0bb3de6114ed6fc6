"""The outcome of a gate, ordered from reassuring to alarming.

``PASS < INCONCLUSIVE < NODATA < ERROR < FAIL``. :meth:`Verdict.worst` returns the most alarming
of several verdicts, so a gate over many guardrails is ``Verdict.worst(*each)``:

- ``PASS``: non-inferiority is established (the harm is below the margin).
- ``INCONCLUSIVE``: measured, but the evidence decides nothing yet — the step holds.
- ``NODATA``: nothing to measure yet (an empty arm, no variation): the step holds, nothing is
  known to be wrong.
- ``ERROR``: the input cannot be measured (a malformed aggregate, a relative margin on a baseline
  of zero): a human should look, so it outranks the waiting states.
- ``FAIL``: harm is established. It outranks ``ERROR`` because it is the only verdict that is
  evidence against the candidate, and it triggers the rollback.
"""

from __future__ import annotations

import enum

__all__ = ["Verdict"]


class Verdict(enum.StrEnum):
    """A gate's outcome; compares by severity, not alphabetically."""

    PASS = "PASS"
    INCONCLUSIVE = "INCONCLUSIVE"
    NODATA = "NODATA"
    ERROR = "ERROR"
    FAIL = "FAIL"

    @property
    def severity(self) -> int:
        """0 for ``PASS`` up to 4 for ``FAIL``."""
        return _SEVERITY[self]

    @classmethod
    def worst(cls, first: Verdict, /, *rest: Verdict) -> Verdict:
        """The most alarming verdict. At least one is required: an empty gate decides nothing."""
        return max((first, *rest), key=_SEVERITY.__getitem__)

    def _rank(self, other: object) -> int:
        # A bare string would otherwise compare alphabetically through ``str``: refuse it.
        if not isinstance(other, Verdict):
            raise TypeError(f"cannot order a Verdict against {type(other).__name__}")
        return _SEVERITY[other]

    def __lt__(self, other: object) -> bool:
        return _SEVERITY[self] < self._rank(other)

    def __le__(self, other: object) -> bool:
        return _SEVERITY[self] <= self._rank(other)

    def __gt__(self, other: object) -> bool:
        return _SEVERITY[self] > self._rank(other)

    def __ge__(self, other: object) -> bool:
        return _SEVERITY[self] >= self._rank(other)


_SEVERITY: dict[Verdict, int] = {verdict: rank for rank, verdict in enumerate(Verdict)}
