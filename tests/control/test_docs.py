"""docs/rollouts.md cannot fall behind the controller: names, config keys, states, alerts."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

import rampgate.control
from rampgate.control import CommandKind, Decision, ExperimentStatus, Status
from rampgate.control import experiment as experiment_module
from rampgate.control import metrics as metrics_module
from rampgate.control import plan as plan_module

DOC = (Path(__file__).resolve().parents[2] / "docs" / "rollouts.md").read_text(encoding="utf-8")
SRC = Path(rampgate.control.__file__).parent


def test_every_public_name_is_documented() -> None:
    missing = [name for name in rampgate.control.__all__ if f"`{name}" not in DOC]
    assert not missing


@pytest.mark.parametrize(
    "keys",
    [
        plan_module._ROLLOUT_KEYS,
        plan_module._STEP_KEYS,
        plan_module._GUARDRAIL_KEYS,
        metrics_module._METRIC_KEYS,
        experiment_module._EXPERIMENT_KEYS,
        experiment_module._SPLIT_KEYS,
    ],
    ids=["rollout", "step", "guardrail", "metric", "experiment", "split"],
)
def test_every_config_key_is_documented(keys: tuple[str, ...]) -> None:
    assert [k for k in keys if f"`{k}`" not in DOC] == []


def test_every_state_decision_command_and_status_is_documented() -> None:
    for enum in (Status, Decision, CommandKind, ExperimentStatus):
        for member in enum:
            assert f"`{member.value}`" in DOC, member


def test_every_alert_kind_is_documented() -> None:
    source = (SRC / "rollout.py").read_text(encoding="utf-8")
    kinds = set(re.findall(r'alert\(\s*"(\w+)"', source)) | {"rolled_back", "aborted"}
    assert kinds >= {"approval_needed", "inconclusive", "held", "refused"}
    assert [k for k in sorted(kinds) if f"`{k}`" not in DOC] == []
