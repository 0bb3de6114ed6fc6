"""What the importer builds: the rampgate flag a GrowthBook definition becomes."""

from __future__ import annotations

import math
from typing import Any

import pytest

import rampgate.compat.growthbook as gbcompat
from rampgate import Client, ConfigError, Context, Portion, Reason
from rampgate.compat.growthbook import (
    RESERVED_ATTRIBUTE,
    Evaluator,
    ImportOptions,
    UserContext,
    import_experiment,
    import_features,
    translate_features,
)
from rampgate.domain.hashing import gb_hash


def test_public_surface_is_pinned() -> None:
    assert gbcompat.__all__ == [
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


def test_experiment_rule_becomes_a_split_with_growthbooks_seed_and_hash_version() -> None:
    (flag,) = import_features(
        {"checkout": {"defaultValue": "old", "rules": [{"variations": ["old", "new"]}]}}
    )
    assert flag.key == "checkout"
    assert dict(flag.variants) == {"old": "old", "new": "new"}
    assert flag.default == "old"
    (rule,) = flag.rules
    assert rule.split is not None
    # GrowthBook: seed = rule seed, else key, else the feature id; hashVersion defaults to 1.
    assert (rule.split.seed, rule.split.hash_version, rule.split.unit) == ("checkout", 1, "id")
    assert dict(rule.split.weights) == {"old": 0.5, "new": 0.5}
    assert rule.split.ranges is None  # weights and coverage stay editable by a rollout


def test_experiment_key_and_seed_override_the_feature_id() -> None:
    keyed, seeded = import_features(
        {
            "a": {"rules": [{"key": "exp-a", "variations": [0, 1]}]},
            "b": {"rules": [{"key": "exp-b", "seed": "s", "hashVersion": 2, "variations": [0, 1]}]},
        }
    )
    assert keyed.rules[0].split is not None and keyed.rules[0].split.seed == "exp-a"
    assert seeded.rules[0].split is not None
    assert (seeded.rules[0].split.seed, seeded.rules[0].split.hash_version) == ("s", 2)


def test_force_rule_with_coverage_is_a_portion() -> None:
    (flag,) = import_features(
        {"f": {"defaultValue": 0, "rules": [{"id": "r", "force": 1, "coverage": 0.3}]}}
    )
    (rule,) = flag.rules
    assert rule.id == "r"
    assert rule.serve == "1"
    assert rule.portion == Portion(coverage=0.3, unit="id", seed="f", hash_version=1)


def test_a_plain_import_never_reads_the_reserved_attribute() -> None:
    features = {
        "f": {
            "rules": [
                {"variations": [0, 1], "meta": [{"key": "a"}, {"key": "b"}], "bucketVersion": 1}
            ]
        }
    }
    (flag,) = import_features(features)
    assert RESERVED_ATTRIBUTE not in repr(flag)
    (with_overrides,) = import_features(
        features, options=ImportOptions(overrides=True, sticky_bucketing=True)
    )
    assert RESERVED_ATTRIBUTE in repr(with_overrides)


def test_passthrough_arm_falls_through_to_the_next_rule() -> None:
    holdout = {
        "key": "holdout",
        "hashVersion": 2,
        "variations": ["held", "through"],
        "ranges": [[0, 0.5], [0.5, 1]],
        "meta": [{}, {"passthrough": True}],
    }
    (flag,) = import_features({"f": {"defaultValue": "d", "rules": [holdout, {"force": "next"}]}})
    split = flag.rules[0].split
    assert split is not None
    assert list(split.weights) == ["held"]
    with Client.from_flags([flag]) as client:
        for i in range(200):
            uid = f"u{i}"
            x = gb_hash("holdout", uid, 2)
            assert x is not None
            got = client.evaluate("f", Context(attributes={"id": uid}), expose=False).value
            assert got == ("held" if x < 0.5 else "next")


def test_gate_serves_null_like_growthbook() -> None:
    features = {
        "parent": {"defaultValue": False},
        "child": {
            "defaultValue": "on",
            "rules": [
                {"parentConditions": [{"id": "parent", "condition": {"value": True}, "gate": True}]}
            ],
        },
    }
    with Client.from_flags(import_features(features)) as client:
        ev = client.evaluate("child", Context(), expose=False)
    assert (ev.value, ev.reason, ev.rule_id) == (None, Reason.TARGETING_MATCH, "#0/gate0")


def test_a_non_gating_parent_only_skips_its_rule() -> None:
    features = {
        "parent": {"defaultValue": False},
        "child": {
            "defaultValue": "d",
            "rules": [
                {
                    "force": "a",
                    "parentConditions": [{"id": "parent", "condition": {"value": True}}],
                },
                {"force": "b"},
            ],
        },
    }
    with Client.from_flags(import_features(features)) as client:
        assert client.evaluate("child", Context(), expose=False).value == "b"


def test_force_rule_with_filters_and_coverage_includes_the_boundary() -> None:
    # GrowthBook includes hash == coverage; the one-variant split must too.
    uid = "user-1"
    x = gb_hash("f", uid, 1)
    assert x is not None
    rule = {"force": 1, "coverage": x, "filters": [{"seed": "s", "ranges": [[0, 1]]}]}
    (flag,) = import_features({"f": {"defaultValue": 0, "rules": [rule]}})
    split = flag.rules[0].split
    assert split is not None and split.ranges == ((0.0, math.nextafter(x, math.inf)),)
    with Client.from_flags([flag]) as client:
        assert client.evaluate("f", Context(attributes={"id": uid}), expose=False).value == 1


def test_repeated_rule_ids_stay_unique_and_report_growthbooks_id() -> None:
    features = {
        "f": {"rules": [{"id": "x", "force": 1, "condition": {"a": 1}}, {"id": "x", "force": 2}]}
    }
    (imported,) = translate_features(features)
    assert [r.id for r in imported.flag.rules] == ["x", "x~2"]
    result = Evaluator(features).eval_feature("f", UserContext(attributes={"a": 2}))
    assert (result["value"], result["ruleId"]) == (2, "x")


def test_duplicate_values_in_one_experiment_are_separate_arms() -> None:
    (imported,) = translate_features({"f": {"rules": [{"variations": [False, False]}]}})
    split = imported.flag.rules[0].split
    assert split is not None
    assert list(split.weights) == ["false", "false#2"]
    evaluator = Evaluator({"f": {"rules": [{"variations": [False, False]}]}})
    ids = {
        evaluator.eval_feature("f", UserContext(attributes={"id": f"u{i}"}))["experimentResult"][
            "variationId"
        ]
        for i in range(50)
    }
    assert ids == {0, 1}


def test_experiment_with_one_variation_never_runs() -> None:
    flag = import_experiment({"key": "solo", "variations": ["only"]})
    assert flag.rules == ()
    assert flag.variants[flag.default] == "only"


@pytest.mark.parametrize(
    ("features", "path"),
    [
        ({"f": []}, "features.f"),
        ({"f": {"rules": {}}}, "features.f.rules"),
        (
            {"f": {"rules": [{"variations": [0, 1], "ranges": [[0, "x"]]}]}},
            "features.f.rules[0].ranges[0][1]",
        ),
        ({"f": {"rules": [{"force": 1, "coverage": "half"}]}}, "features.f.rules[0].coverage"),
        (
            {"f": {"rules": [{"force": 1, "parentConditions": [{"condition": {}}]}]}},
            "features.f.rules[0].parentConditions[0].id",
        ),
    ],
)
def test_malformed_definitions_name_where(features: Any, path: str) -> None:
    with pytest.raises(ConfigError) as info:
        import_features(features)
    assert info.value.path == path


def test_conditions_rampgate_cannot_compile_fail_at_import() -> None:
    features = {"f": {"rules": [{"force": 1, "condition": {"a": {"$nope": 1}}}]}}
    with pytest.raises(ConfigError) as info:
        import_features(features)
    assert "flags.f.rules[0].condition" in info.value.path


def test_saved_groups_are_used_at_import() -> None:
    features = {
        "f": {"defaultValue": 0, "rules": [{"force": 1, "condition": {"id": {"$inGroup": "g"}}}]}
    }
    flags = import_features(features, saved_groups={"g": ["a"]})
    with Client.from_flags(flags, saved_groups={"g": ["a"]}) as client:
        assert client.evaluate("f", Context(attributes={"id": "a"}), expose=False).value == 1
        assert client.evaluate("f", Context(attributes={"id": "b"}), expose=False).value == 0


def test_evaluator_does_not_change_its_inputs() -> None:
    features = {"f": {"rules": [{"variations": [{"a": [1]}, {"a": [2]}]}]}}
    attributes = {"id": "u"}
    before = repr((features, attributes))
    Evaluator(features).eval_feature("f", UserContext(attributes=attributes))
    assert repr((features, attributes)) == before
