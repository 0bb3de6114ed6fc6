"""The controller's public surface changes only on purpose: update this list in the same change."""

import rampgate.control

EXPECTED = [
    "CONTROLLER",
    "DEFAULT_METRICS",
    "FROZEN_FIELDS",
    "Action",
    "Aggregate",
    "Alert",
    "AlertLevel",
    "ArmEstimate",
    "Arms",
    "Assessment",
    "Checkpoint",
    "Command",
    "CommandKind",
    "Comparison",
    "Correction",
    "Decision",
    "EvalResult",
    "Experiment",
    "ExperimentContract",
    "ExperimentObservations",
    "ExperimentStatus",
    "FrozenFieldError",
    "GateResult",
    "GateSettings",
    "GuardrailSpec",
    "Metric",
    "MetricEvidence",
    "MetricKind",
    "Observations",
    "OnInconclusive",
    "PerUnit",
    "Promote",
    "RecordSnapshot",
    "Registration",
    "Rollback",
    "RollbackMode",
    "RolloutPlan",
    "RolloutState",
    "SetShadow",
    "SetWeights",
    "Shadow",
    "Snapshot",
    "SrmEvidence",
    "Status",
    "Step",
    "amend",
    "assess",
    "check_concurrency",
    "checkpoint",
    "evaluate_guardrail",
    "parse_experiment",
    "parse_experiments",
    "parse_metrics",
    "parse_rollout",
    "parse_rollouts",
    "reconcile",
    "register",
    "required_sample",
    "set_weights_key",
]


def test_all_is_pinned() -> None:
    assert rampgate.control.__all__ == EXPECTED


def test_every_name_is_importable() -> None:
    for name in rampgate.control.__all__:
        assert getattr(rampgate.control, name) is not None, name


def test_every_public_error_derives_from_the_root() -> None:
    from rampgate.errors import RampgateError

    for name in rampgate.control.__all__:
        obj = getattr(rampgate.control, name)
        if isinstance(obj, type) and issubclass(obj, Exception):
            assert issubclass(obj, RampgateError), name
