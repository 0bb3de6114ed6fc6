"""For 20,000 users, rampgate's split assigns exactly the variant GrowthBook's SDK assigns.

A rampgate split is a GrowthBook experiment rule with ``seed`` = the flag's salt (its key when
unset), ``hashVersion`` 2 and ``hashAttribute`` = the split's unit; namespaces and coverage carry
over unchanged. Each configuration is evaluated by both SDKs for every user, and users left out
must agree too (rampgate: ``DEFAULT``; GrowthBook: not in the experiment).
"""

from __future__ import annotations

import random
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from growthbook import GrowthBook

from rampgate import Client, Context, Flag, Namespace, Reason, Rule, Split

N_USERS = 20_000
OFF = "off"


def _ids() -> list[str]:
    """20,000 distinct ids in the shapes services use: sequential, UUIDs, non-ASCII, numeric."""
    rng = random.Random(42)
    ids = [f"user-{i}" for i in range(9_000)]
    ids += [str(uuid.UUID(int=rng.getrandbits(128), version=4)) for _ in range(8_000)]
    ids += [f"{p}{i}" for i in range(500) for p in ("ユーザー-", "café-", "😀")][:1_500]
    ids += [str(rng.randrange(10**12)) for _ in range(1_500)]
    assert len(set(ids)) == N_USERS
    return ids


IDS = _ids()


@dataclass(frozen=True)
class Case:
    name: str
    weights: tuple[float, ...]
    coverage: float = 1.0
    namespace: tuple[str, float, float] | None = None
    salt: str | None = None
    unit: str = "user_id"
    condition: dict[str, Any] | None = None

    @property
    def variants(self) -> list[str]:
        return [f"v{i}" for i in range(len(self.weights))]

    def flag(self) -> Flag:
        split = Split(
            weights=dict(zip(self.variants, self.weights, strict=True)),
            coverage=self.coverage,
            unit=self.unit,
            namespace=Namespace(*self.namespace) if self.namespace else None,
        )
        rules = [Rule("split", split=split)]
        if self.condition is not None:
            rules.insert(0, Rule("targeted", condition=self.condition, serve=self.variants[-1]))
        return Flag(
            self.name,
            variants={OFF: OFF, **{v: v for v in self.variants}},
            default=OFF,
            salt=self.salt,
            rules=tuple(rules),
        )

    def feature(self) -> dict[str, Any]:
        experiment: dict[str, Any] = {
            "id": "split",
            "key": self.name,
            "seed": self.salt if self.salt is not None else self.name,
            "hashVersion": 2,
            "hashAttribute": self.unit,
            "variations": self.variants,
            "weights": list(self.weights),
            "coverage": self.coverage,
        }
        if self.namespace:
            experiment["namespace"] = list(self.namespace)
        rules: list[dict[str, Any]] = [experiment]
        if self.condition is not None:
            rules.insert(
                0, {"id": "targeted", "condition": self.condition, "force": self.variants[-1]}
            )
        return {"defaultValue": OFF, "rules": rules}


CASES = [
    Case("two-way", (0.5, 0.5)),
    Case("three-way-partial-coverage", (0.5, 0.3, 0.2), coverage=0.4),
    Case("canary-in-a-namespace", (0.9, 0.1), namespace=("agents", 0.25, 0.75)),
    Case(
        "salted-by-account",
        (0.2, 0.3, 0.5),
        coverage=0.75,
        namespace=("pricing", 0.0, 0.6),
        salt="refund-prompt-2026-q3",
        unit="account_id",
    ),
    Case(
        "targeted-then-canary",
        (0.9, 0.1),
        condition={"$or": [{"plan": "enterprise"}, {"country": {"$in": ["US", "CA"]}}]},
    ),
]


def _attributes(i: int, uid: str) -> dict[str, Any]:
    # The unit under another attribute too, so a split reading the wrong one would show.
    attrs: dict[str, Any] = {"account_id": uid, "plan": ("free", "pro", "enterprise")[i % 3]}
    if i % 7:
        attrs["country"] = ("US", "DE", "CA", "IN", "BR")[i % 5]
    return attrs


@pytest.fixture(scope="module")
def growthbook() -> Iterator[GrowthBook]:
    gb = GrowthBook(features={c.name: c.feature() for c in CASES})
    yield gb
    gb.destroy()


def _outcome(ev_reason: Reason, variant: str | None) -> str:
    return {Reason.SPLIT: "split", Reason.TARGETING_MATCH: "targeted"}.get(ev_reason, "out") + (
        f":{variant}" if ev_reason is not Reason.DEFAULT else ""
    )


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_every_user_gets_growthbooks_variant(case: Case, growthbook: GrowthBook) -> None:
    client = Client.from_flags([case.flag()], environment="test")
    ours: list[str] = []
    theirs: list[str] = []
    for i, uid in enumerate(IDS):
        attrs = _attributes(i, uid)
        user = uid if case.unit == "user_id" else f"other-{i}"
        ev = client.evaluate(case.name, Context(user_id=user, attributes=attrs), expose=False)
        ours.append(_outcome(ev.reason, ev.variant))
        growthbook.set_attributes({**attrs, "user_id": user})
        result = growthbook.eval_feature(case.name)
        if result.source == "experiment":
            assert result.experimentResult is not None and result.experimentResult.inExperiment
            theirs.append(f"split:{result.value}")
        elif result.source == "force":
            theirs.append(f"targeted:{result.value}")
        else:
            assert (result.source, result.value) == ("defaultValue", OFF)
            theirs.append("out")
    mismatches = [
        (IDS[i], o, t) for i, (o, t) in enumerate(zip(ours, theirs, strict=True)) if o != t
    ]
    assert not mismatches, f"{len(mismatches)} users differ, e.g. {mismatches[:5]}"
    # Not vacuous: every variant, and the default where the case leaves users out.
    seen = Counter(ours)
    assert {f"split:{v}" for v in case.variants} <= set(seen)
    if case.coverage < 1 or case.namespace:
        assert seen["out"] > 0


# -- unit values that are not plain strings -----------------------------------------------------

SALTS = [f"salt-{i}" for i in range(8)]  # 8 independent 3-way splits: a chance match is ~1e-4


def _fingerprints(value: Any) -> tuple[list[str], list[str]]:
    flags = [Case(salt, (0.3, 0.3, 0.4), unit="account_id", salt=salt).flag() for salt in SALTS]
    client = Client.from_flags(flags, environment="test")
    gb = GrowthBook(
        features={s: Case(s, (0.3, 0.3, 0.4), unit="account_id", salt=s).feature() for s in SALTS},
        attributes={"account_id": value},
    )
    ctx = Context(attributes={"account_id": value})
    ours = [_outcome(ev.reason, ev.variant) for ev in (client.evaluate(s, ctx) for s in SALTS)]
    theirs = []
    for s in SALTS:
        result = gb.eval_feature(s)
        theirs.append(f"split:{result.value}" if result.source == "experiment" else "out")
    gb.destroy()
    return ours, theirs


@pytest.mark.parametrize(
    "value",
    [
        # Missing units: GrowthBook takes only non-empty strings and finite non-zero numbers.
        None, "", True, False, [], {}, 0, -0.0, float("nan"), float("inf"), float("-inf"), 10**400,
        # Numbers are hashed as JavaScript's String() writes the double they become.
        "0", 1, -1, 7, 1.5, -2.25, 0.1, 100.0, 1e16, 1e21, 1e300, 1e-5, 1e-6, 1e-7, 1.5e-7,
        5e-324, 2**53, 2**53 + 1, 12345678901234567891, 10**21 + 1, 10**30,
    ],
    ids=lambda v: repr(v) if len(repr(v)) < 24 else f"{type(v).__name__}-{len(repr(v))}-digits",
)  # fmt: skip
def test_unit_values_that_are_not_strings_bucket_as_in_growthbook(value: Any) -> None:
    ours, theirs = _fingerprints(value)
    assert ours == theirs
