from __future__ import annotations

import itertools
import json

import pytest

from rampgate.stats import ReasonCode, Verdict, verdict_for_reason

ORDER = [Verdict.PASS, Verdict.INCONCLUSIVE, Verdict.NODATA, Verdict.ERROR, Verdict.FAIL]


def test_order_is_by_severity_not_alphabet() -> None:
    alphabetical = sorted(ORDER, key=str)
    assert alphabetical != ORDER
    assert sorted(alphabetical) == ORDER
    assert [v.severity for v in ORDER] == [0, 1, 2, 3, 4]
    assert Verdict.FAIL > Verdict.ERROR > Verdict.NODATA > Verdict.INCONCLUSIVE > Verdict.PASS
    assert Verdict.PASS <= Verdict.PASS
    assert Verdict.FAIL >= Verdict.FAIL


@pytest.mark.parametrize(("a", "b"), list(itertools.product(ORDER, repeat=2)))
def test_worst_is_the_more_severe(a: Verdict, b: Verdict) -> None:
    assert Verdict.worst(a, b) is (a if a.severity >= b.severity else b)
    assert Verdict.worst(a, b) is Verdict.worst(b, a)


def test_worst_of_many_and_of_one() -> None:
    assert Verdict.worst(Verdict.PASS) is Verdict.PASS
    assert Verdict.worst(*ORDER) is Verdict.FAIL
    assert Verdict.worst(Verdict.PASS, Verdict.NODATA, Verdict.INCONCLUSIVE) is Verdict.NODATA


def test_ordering_against_a_bare_string_is_refused() -> None:
    with pytest.raises(TypeError):
        _ = Verdict.PASS < "FAIL"  # type: ignore[operator]


def test_serialises_as_its_name() -> None:
    assert json.dumps({"verdict": Verdict.FAIL}) == '{"verdict": "FAIL"}'
    assert Verdict("INCONCLUSIVE") is Verdict.INCONCLUSIVE


def test_every_reason_has_a_verdict_that_is_not_a_decision() -> None:
    for reason in ReasonCode:
        assert verdict_for_reason(reason) in {Verdict.NODATA, Verdict.ERROR, Verdict.INCONCLUSIVE}
    assert verdict_for_reason(ReasonCode.EMPTY_ARM) is Verdict.NODATA
    assert verdict_for_reason(ReasonCode.INVALID_AGGREGATE) is Verdict.ERROR
