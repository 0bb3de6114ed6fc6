"""Experiment and rollout state machines, gates and policy.

Pure: ``reconcile(state, observations, now, plan) -> (state, actions)``. Imports ``domain``,
``stats`` and ``errors`` only — never SQL, HTTP, threads or a clock: time comes in as an
argument, and the driver (the server) performs the actions. ``docs/rollouts.md`` describes the
states, the gates and what the driver does with each action.
"""

from .actions import (
    Action,
    Alert,
    AlertLevel,
    Promote,
    RecordSnapshot,
    Rollback,
    SetShadow,
    SetWeights,
)
from .checkpoint import (
    Checkpoint,
    Comparison,
    ExperimentObservations,
    ExperimentStatus,
    checkpoint,
)
from .evidence import (
    ArmEstimate,
    Decision,
    GateResult,
    MetricEvidence,
    Snapshot,
    SrmEvidence,
    evaluate_guardrail,
    required_sample,
)
from .experiment import (
    FROZEN_FIELDS,
    Correction,
    Experiment,
    ExperimentContract,
    FrozenFieldError,
    amend,
    parse_experiment,
    parse_experiments,
)
from .gates import Assessment, assess
from .metrics import DEFAULT_METRICS, Aggregate, Metric, MetricKind, PerUnit, parse_metrics
from .observations import Arms, Command, CommandKind, EvalResult, Observations
from .plan import (
    GateSettings,
    GuardrailSpec,
    OnInconclusive,
    RollbackMode,
    RolloutPlan,
    Shadow,
    Step,
    parse_rollout,
    parse_rollouts,
)
from .registration import Registration, check_concurrency, register
from .rollout import CONTROLLER, reconcile, set_weights_key
from .state import RolloutState, Status

__all__ = [
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
