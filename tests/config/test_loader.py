"""Config loading: the example loads; every mistake names file, path and what was expected."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from rampgate.config import load_file, load_mapping, load_text, parse_duration
from rampgate.domain.model import Pin
from rampgate.errors import ConditionError, ConfigError, SchemaError

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "rampgate.yaml"


def base() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(EXAMPLE.read_text(encoding="utf-8"))
    return data


def test_example_loads_with_overrides() -> None:
    config = load_file(EXAMPLE)
    assert config.environment_keys == ("dev", "staging", "prod")
    prod = {f.key: f for f in config.flags_for("prod")}
    dev = {f.key: f for f in config.flags_for("dev")}
    assert [r.id for r in prod["support-agent"].rules] == [
        "staff-first",
        "design-partners",
        "canary",
    ]
    assert [r.id for r in dev["support-agent"].rules] == ["all"]
    assert prod["support-agent"].pin is Pin.SESSION
    assert prod["support-agent"].pin_ttl == 86400
    assert config.saved_groups["design-partners"] == ["acme", "globex", "initech"]


def error_for(data: Any) -> ConfigError:
    with pytest.raises(ConfigError) as info:
        load_mapping(data, source="rampgate.yaml")
    return info.value


def test_unknown_top_level_key() -> None:
    data = base() | {"flagz": {}}
    err = error_for(data)
    assert err.path == "flagz"
    assert "unknown key 'flagz'" in str(err)
    assert "environments, saved_groups, flags" in err.expected
    assert str(err).startswith("rampgate.yaml: flagz:")


def test_unknown_key_in_split_is_named_with_its_path() -> None:
    data = base()
    data["flags"]["support-agent"]["rules"][2]["split"]["coverge"] = 0.5
    err = error_for(data)
    assert err.path == "flags.support-agent.rules[2].split.coverge"


def test_bad_operator_names_flag_rule_and_operator() -> None:
    data = base()
    data["flags"]["support-agent"]["rules"][1]["when"] = {"tenant": {"$inn": ["acme"]}}
    with pytest.raises(ConditionError) as info:
        load_mapping(data, source="rampgate.yaml")
    assert info.value.operator == "$inn"
    assert info.value.path.startswith("flags.support-agent.rules[1].when")
    assert info.value.source == "rampgate.yaml"


def test_bad_in_operand_path() -> None:
    data = base()
    data["flags"]["refund-prompt"]["rules"][0]["when"] = {"country": {"$in": "US"}}
    err = error_for(data)
    assert err.path == "flags.refund-prompt.rules[0].when.country.$in"


def test_bad_regex_is_a_load_error() -> None:
    data = base()
    data["flags"]["support-agent"]["rules"][0]["when"] = {"email": {"$regex": "(unclosed"}}
    err = error_for(data)
    assert isinstance(err, ConditionError)
    assert "flags.support-agent.rules[0].when" in err.path


def test_variant_violating_schema() -> None:
    data = base()
    data["flags"]["support-agent"]["variants"]["candidate"]["temperature"] = 7
    with pytest.raises(SchemaError) as info:
        load_mapping(data, source="rampgate.yaml")
    assert info.value.path == "flags.support-agent.variants.candidate"
    assert "temperature" in str(info.value)


def test_invalid_schema() -> None:
    data = base()
    data["flags"]["support-agent"]["schema"] = {"type": "objekt"}
    assert "invalid JSON schema" in str(error_for(data))


@pytest.mark.parametrize(
    ("mutate", "path", "expected"),
    [
        (lambda d: d["flags"]["support-agent"].update(default="nope"), "flags.support-agent.default", "one of"),
        (lambda d: d["flags"]["support-agent"]["rules"][0].update(serve="ghost"), "flags.support-agent.rules[0].serve", "one of"),
        (lambda d: d["flags"]["support-agent"]["rules"][2]["split"].update(weights={"stable": 0.5, "candidate": 0.2}), "flags.support-agent.rules[2].split.weights", "add up to 1"),
        (lambda d: d["flags"]["support-agent"]["rules"][2]["split"].update(coverage=1.5), "flags.support-agent.rules[2].split.coverage", "a number in [0.0, 1.0]"),
        (lambda d: d["flags"]["support-agent"].update(pin="forever"), "flags.support-agent.pin", "'session' or 'none'"),
        (lambda d: d["flags"]["support-agent"].update(pin_ttl="soon"), "flags.support-agent.pin_ttl", "a duration"),
        (lambda d: d["flags"]["support-agent"]["environments"].update(qa={}), "flags.support-agent.environments.qa", "one of dev, staging, prod"),
        (lambda d: d["flags"]["support-agent"]["rules"][1].update(id="staff-first"), "flags.support-agent.rules[1]", "unique rule ids"),
        (lambda d: d["flags"]["support-agent"]["rules"][0].update(split={"weights": {"stable": 1}}), "flags.support-agent.rules[0]", "serve: VARIANT"),
        (lambda d: d["flags"]["approval-rule"]["prerequisites"][0].update(flag="ghost"), "flags.approval-rule.prerequisites", ""),
        (lambda d: d.update(environments=[]), "environments", "a list such as"),
    ],
    ids=["default", "serve", "weights-sum", "coverage", "pin", "pin-ttl", "env-override", "dup-rule", "serve-and-split", "prereq-missing", "no-envs"],
)  # fmt: skip
def test_mistakes_name_their_path(mutate: Any, path: str, expected: str) -> None:
    data = base()
    mutate(data)
    err = error_for(data)
    assert err.path == path, str(err)
    assert expected in err.expected or expected in str(err)


def test_prerequisite_cycle_is_refused() -> None:
    data = base()
    data["flags"]["refund-prompt"]["prerequisites"] = [
        {"flag": "approval-rule", "when": {"value": {"$exists": True}}}
    ]
    err = error_for(data)
    assert "cycle" in str(err)
    assert "approval-rule" in str(err) and "refund-prompt" in str(err)


def test_yaml_syntax_error_names_line(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("environments: [prod\nflags: {}\n", encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_file(bad)
    assert str(bad) in str(info.value) and "line" in str(info.value)


def test_missing_file() -> None:
    with pytest.raises(ConfigError, match="cannot read"):
        load_file("/nonexistent/rampgate.yaml")


def test_empty_document() -> None:
    with pytest.raises(ConfigError, match="empty"):
        load_text("")


def test_environments_as_mapping_and_default() -> None:
    config = load_text("environments: {prod: {description: live}}\nflags: {}\n")
    assert config.environments[0].description == "live"
    assert load_text("flags: {}\n").environment_keys == ("default",)


def test_unknown_environment_for_flags() -> None:
    with pytest.raises(ConfigError, match="unknown environment"):
        load_file(EXAMPLE).flags_for("qa")


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        (90, 90.0),
        ("90s", 90.0),
        ("30m", 1800.0),
        ("1h", 3600.0),
        ("14d", 1209600.0),
        ("250ms", 0.25),
    ],
)
def test_durations(text: Any, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["soon", "-1h", 0, True, None, "1y"])
def test_bad_durations(text: Any) -> None:
    with pytest.raises(ConfigError):
        parse_duration(text)
