"""GrowthBook spec cases ``run``: one experiment as a one-rule rampgate flag, evaluated by rampgate.

Each experiment goes through ``rampgate.compat.growthbook`` (``import_experiment``'s translation)
into a flag evaluated by rampgate's engine; value, inExperiment and hashUsed are compared.

Per-request switches are carried over as targeting on the reserved context attribute:
``forcedVariations`` (a rule per forced variation), ``qaMode`` and ``enabled: false`` (conditions
on the split); ``active: false`` is a flag without a split. Only forcing a variation through the
page URL's query string is left out: that is a browser feature, with no URL in a rampgate context.
"""

from __future__ import annotations

from typing import Any

import pytest

from rampgate.compat.growthbook import Evaluator, UserContext

from .spec import cases, require

BROWSER_ONLY = "skip-browser: variation forced by the page URL's query string"


def _params() -> list[Any]:
    out = []
    for param in cases("run"):
        case = param.values[0]
        if isinstance(case, list) and "url" in case[1]:
            reason = f"{BROWSER_ONLY} ({case[0]})"
            out.append(pytest.param(case, marks=pytest.mark.skip(reason=reason), id=reason))
        else:
            out.append(param)
    return out


@pytest.mark.parametrize("case", _params())
def test_run(case: Any) -> None:
    require(case)
    _, ctx, experiment, value, in_experiment, hash_used = case
    evaluator = Evaluator(ctx.get("features"), saved_groups=ctx.get("savedGroups"))
    result = evaluator.run(experiment, UserContext.from_json(ctx))
    got = (result["value"], result["inExperiment"], result["hashUsed"])
    assert got == (value, in_experiment, hash_used)
