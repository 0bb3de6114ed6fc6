"""Request and response bodies of the HTTP API (their JSON Schemas make the OpenAPI document).

Pydantic checks shapes and types; the meaning (a rule serves a known variant, weights add up
to 1, conditions compile, variants satisfy the schema) is checked by the same parser that reads
``rampgate.yaml``, so the API and the files report a mistake the same way.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, create_model, model_validator
from pydantic.fields import FieldInfo

__all__ = [
    "CommandIn",
    "EnvironmentIn",
    "EvalIn",
    "EventColumnsIn",
    "EventIn",
    "EventsIn",
    "FlagIn",
    "KillIn",
    "RolloutIn",
    "TokenIn",
]

Key = Annotated[
    str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}$", examples=["support-agent"])
]
Fraction = Annotated[float, Field(ge=0.0, le=1.0)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class NamespaceIn(_Strict):
    id: str
    range: Annotated[list[Fraction], Field(min_length=2, max_length=2)]


class SplitIn(_Strict):
    weights: dict[str, Fraction] = Field(
        description="variant → weight, adding up to 1; order matters"
    )
    coverage: Fraction = 1.0
    unit: str = "user_id"
    fallback_unit: str | None = None
    namespace: NamespaceIn | None = None
    seed: str | None = None
    hash_version: Literal[1, 2] = 2


class PortionIn(_Strict):
    coverage: Fraction
    unit: str = "user_id"
    fallback_unit: str | None = None
    seed: str | None = None
    hash_version: Literal[1, 2] = 2


class PrerequisiteIn(_Strict):
    flag: Key
    when: dict[str, Any] = Field(description="condition on {value: <the flag's value>}")


class RuleIn(_Strict):
    id: Key
    when: dict[str, Any] | None = Field(None, description="GrowthBook condition syntax")
    serve: str | None = None
    split: SplitIn | None = None
    portion: PortionIn | None = None
    prerequisites: list[PrerequisiteIn] | None = None


class ShadowIn(_Strict):
    variant: str = Field(description="the variant run beside the served one")
    sample: Fraction = Field(description="share of calls shadowed; 0 turns shadowing off")


class FlagIn(_Strict):
    """A flag definition, in the same shape as a flag in ``rampgate.yaml``."""

    variants: dict[str, Any] = Field(
        min_length=1, description="variant name → JSON value (an agent config)"
    )
    default: str = Field(description="the safe variant: served on kill, error and rollback")
    description: str = ""
    rules: list[RuleIn] = Field(default_factory=list)
    json_schema: dict[str, Any] | None = Field(
        None, alias="schema", description="JSON Schema every variant must satisfy"
    )
    salt: str | None = None
    killed: bool = False
    pin: Literal["session", "none"] = "none"
    pin_ttl: float | str | None = Field(None, description="seconds, or a duration such as '24h'")
    prerequisites: list[PrerequisiteIn] | None = None
    shadow: ShadowIn | None = Field(
        None, description="run another variant beside the served one (client.shadow)"
    )

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    def document(self) -> dict[str, Any]:
        return self.model_dump(by_alias=True, exclude_none=True)


class KillIn(_Strict):
    reason: str = Field("", description="why, recorded in the receipt and the audit log")


class EnvironmentIn(_Strict):
    key: Key
    description: str = ""


class TokenIn(_Strict):
    kind: Literal["admin", "sdk"]
    environment: Key | None = Field(None, description="required for sdk tokens")
    name: str = Field("", max_length=256, description="a label shown in receipts")


# Event fields fit the events table's columns (VARCHAR(n); PostgreSQL refuses NUL characters).
_NO_NUL = r"^[^\x00]*$"
_Text32 = Annotated[str, Field(max_length=32, pattern=_NO_NUL)]
_Text128 = Annotated[str, Field(max_length=128, pattern=_NO_NUL)]
_Text256 = Annotated[str, Field(max_length=256, pattern=_NO_NUL)]


class EventIn(BaseModel):
    """One exposure or outcome event as the SDK sends it."""

    model_config = ConfigDict(extra="ignore")

    # Bounds are the events table's columns (BIGINT, INTEGER, VARCHAR(n)): a value that does
    # not fit is this request's 422, never the database's 500.
    id: Annotated[str, Field(min_length=8, max_length=64, pattern=_NO_NUL)]
    type: Literal["exposure", "event"]
    time_ms: Annotated[int, Field(ge=0, le=2**63 - 1)]
    environment: _Text128 | None = None
    user_id: _Text256 | None = None
    session_id: _Text256 | None = None
    flag: _Text128 | None = None
    variant: _Text128 | None = None
    reason: _Text32 | None = None
    rule_id: _Text128 | None = None
    flag_version: Annotated[int, Field(ge=-(2**31), le=2**31 - 1)] | None = None
    name: _Text256 | None = None
    value: Annotated[float, Field(allow_inf_nan=False)] | None = None
    properties: dict[str, Any] | None = None


class EventsIn(BaseModel):
    events: list[EventIn] = Field(description="at most RAMPGATE_MAX_EVENTS_PER_BATCH events")


def _column(info: FieldInfo) -> tuple[Any, Any]:
    """``EventIn``'s field as a column: a list of its values, each checked as ``EventIn`` does."""
    element: Any = info.annotation
    if info.metadata:
        element = Annotated.__class_getitem__((element, *info.metadata))  # type: ignore[attr-defined]
    if info.is_required():
        return list[element], ...
    return list[element] | None, None


class _Columns(BaseModel):
    model_config = ConfigDict(extra="ignore")

    @model_validator(mode="after")
    def _same_length(self) -> _Columns:
        lengths = {len(v) for v in self.__dict__.values() if v is not None}
        if len(lengths) > 1:
            found = ", ".join(map(str, sorted(lengths)))
            raise ValueError(f"every column must have one value per event; lengths {found}")
        return self


# Derived from EventIn field by field, so a column accepts exactly what the field accepts.
EventColumns = create_model(
    "EventColumns",
    __base__=_Columns,
    __doc__="One list per field of EventIn, all of one length: value i of each is event i.",
    **{name: _column(info) for name, info in EventIn.model_fields.items()},  # type: ignore[call-overload]
)


class EventColumnsIn(BaseModel):
    """The same events as ``EventsIn``, column by column: about half the bytes, and no key
    repeated per event for the server to parse. The SDK sends this shape."""

    columns: EventColumns = Field(  # type: ignore[valid-type]
        description="id, type and time_ms are required; a column left out is null for every event"
    )


class RolloutIn(_Strict):
    name: Key = Field(description="the rollout's name; each start is a new run, name#run")
    plan: dict[str, Any] = Field(
        description="the rollout as under `rollouts:` in rampgate.yaml (docs/rollouts.md); "
        "`environment` defaults to the path's"
    )
    metrics: dict[str, dict[str, Any]] | None = Field(
        None, description="metric definitions beyond the default agent pack, as under `metrics:`"
    )


class CommandIn(_Strict):
    reason: str = Field("", max_length=2000, description="why; required to promote")
    step: int | None = Field(None, ge=0, description="approve: the step approved (default: now)")
    mode: Literal["hard", "soft"] | None = Field(
        None, description="rollback: override the plan's mode"
    )


class EvalIn(_Strict):
    suite: str = Field(min_length=1, max_length=256, description="the evaluation suite's name")
    variant: Key = Field(description="the variant evaluated (the rollout's candidate)")
    passed: bool
    detail: str = Field("", max_length=10_000, description="a summary, a link to the run")
