"""The ``shadow`` key: parsed and checked at load (with paths), round-tripped by the codec."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rampgate.config import flag_from_document, flag_to_document, load_mapping
from rampgate.domain import ShadowConfig
from rampgate.errors import ConfigError

FLAG: dict[str, Any] = {
    "variants": {"stable": {"model": "a"}, "candidate": {"model": "b"}},
    "default": "stable",
    "rules": [{"id": "canary", "split": {"weights": {"stable": 0.95, "candidate": 0.05}}}],
    "shadow": {"variant": "candidate", "sample": 0.2},
}


def config(flag: dict[str, Any]) -> dict[str, Any]:
    return {"environments": ["dev", "prod"], "flags": {"agent": flag}}


def test_loads_into_the_flag() -> None:
    loaded = load_mapping(config(FLAG))
    [flag] = loaded.flags_for("prod")
    assert flag.shadow == ShadowConfig("candidate", 0.2)


def test_absent_and_null_mean_no_shadow() -> None:
    without = {k: v for k, v in FLAG.items() if k != "shadow"}
    assert load_mapping(config(without)).flags_for("prod")[0].shadow is None
    assert load_mapping(config(FLAG | {"shadow": None})).flags_for("prod")[0].shadow is None


def test_environment_override() -> None:
    flag = FLAG | {"environments": {"dev": {"shadow": None}, "prod": {"shadow": {"variant": "candidate", "sample": 1}}}}  # fmt: skip
    loaded = load_mapping(config(flag))
    assert loaded.flags_for("dev")[0].shadow is None
    assert loaded.flags_for("prod")[0].shadow == ShadowConfig("candidate", 1.0)


@pytest.mark.parametrize(
    ("shadow", "path", "expected"),
    [
        ({"variant": "nope", "sample": 0.2}, "flags.agent.shadow.variant", "one of 'stable', 'candidate'"),
        ({"variant": "candidate", "sample": 1.2}, "flags.agent.shadow.sample", "a number in [0.0, 1.0]"),
        ({"variant": "candidate", "sample": -0.1}, "flags.agent.shadow.sample", "a number in [0.0, 1.0]"),
        ({"variant": "candidate", "sample": "20%"}, "flags.agent.shadow.sample", "a number in [0.0, 1.0]"),
        ({"variant": "candidate"}, "flags.agent.shadow.sample", ""),
        ({"sample": 0.2}, "flags.agent.shadow.variant", ""),
        ({"variant": "candidate", "sample": 0.2, "min_pairs": 5}, "flags.agent.shadow.min_pairs", "one of variant, sample"),
        ({"variant": 3, "sample": 0.2}, "flags.agent.shadow.variant", "a string"),
        ("candidate", "flags.agent.shadow", "a mapping"),
    ],
)  # fmt: skip
def test_mistakes_name_their_path(shadow: Any, path: str, expected: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_mapping(config(FLAG | {"shadow": shadow}), source="rampgate.yaml")
    assert info.value.path == path
    assert info.value.expected == expected
    assert str(info.value).startswith(f"rampgate.yaml: {path}:")


def test_override_mistake_names_its_path() -> None:
    flag = FLAG | {"environments": {"dev": {"shadow": {"variant": "x", "sample": 0.5}}}}
    with pytest.raises(ConfigError) as info:
        load_mapping(config(flag))
    assert info.value.path == "flags.agent.environments.dev.shadow.variant"


def test_codec_round_trip() -> None:
    flag = load_mapping(config(FLAG)).flags_for("prod")[0]
    doc = flag_to_document(flag)
    assert doc["shadow"] == {"variant": "candidate", "sample": 0.2}
    assert flag_from_document("agent", doc) == flag
    off = flag_from_document("agent", {k: v for k, v in doc.items() if k != "shadow"})
    assert off.shadow is None
    assert "shadow" not in flag_to_document(off)
    assert "shadow" not in flag_to_document(off, wire=False)


@given(st.floats(0.0, 1.0), st.sampled_from(["stable", "candidate"]))
def test_codec_round_trip_is_lossless(sample: float, variant: str) -> None:
    doc = copy.deepcopy(FLAG) | {"shadow": {"variant": variant, "sample": sample}}
    flag = flag_from_document("agent", doc)
    assert flag.shadow == ShadowConfig(variant, sample)
    assert flag_from_document("agent", flag_to_document(flag)) == flag


def test_document_errors_name_the_path() -> None:
    with pytest.raises(ConfigError) as info:
        flag_from_document("agent", FLAG | {"shadow": {"variant": "candidate", "sample": 2}})
    assert info.value.path == "flags.agent.shadow.sample"
    assert info.value.source == "<api>"
