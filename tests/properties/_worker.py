"""Evaluates contexts sent on stdin and answers on stdout, one JSON line each.

Run by ``test_determinism`` as ``python -m tests.properties._worker`` under a different
``PYTHONHASHSEED`` from the test process, so any dependence of an assignment on ``hash()``, set
or dict iteration order shows up as a difference. The first line it writes is its own
``hash("rampgate")``, proof that the hash seed really differs.
"""

from __future__ import annotations

import json
import sys
from typing import Any

from rampgate import Client, Context, Flag, Namespace, Portion, Rule, Split


def flags() -> list[Flag]:
    v = {"off": 0, "a": 1, "b": 2, "c": 3}
    return [
        Flag(
            "three-way",
            variants=v,
            default="off",
            rules=(Rule("split", split=Split(weights={"a": 0.5, "b": 0.3, "c": 0.2})),),
        ),
        Flag(
            "covered",
            variants=v,
            default="off",
            salt="s4lt-ü",
            rules=(
                Rule(
                    "split",
                    split=Split(
                        weights={"a": 0.6, "b": 0.4},
                        coverage=0.4,
                        namespace=Namespace("agents", 0.1, 0.8),
                    ),
                ),
            ),
        ),
        Flag(
            "targeted",
            variants=v,
            default="off",
            rules=(
                Rule(
                    "who",
                    condition={
                        "country": {"$in": ["US", "CA", "ü", "🚀"]},
                        "plan": {"$nin": ["free", "trial"]},
                    },
                    serve="c",
                ),
                Rule(
                    "by-session",
                    split=Split(
                        weights={"a": 0.9, "b": 0.1}, unit="session_id", fallback_unit="user_id"
                    ),
                ),
            ),
        ),
        Flag(
            "portion",
            variants=v,
            default="off",
            rules=(Rule("some", serve="b", portion=Portion(coverage=0.3)),),
        ),
    ]


def evaluate_all(client: Client, contexts: list[Any]) -> list[list[Any]]:
    out = []
    for user_id, session_id, attributes in contexts:
        ctx = Context(user_id=user_id, session_id=session_id, attributes=attributes)
        for key in client.ruleset.flags:
            ev = client.evaluate(key, ctx, expose=False)
            out.append([key, ev.variant, str(ev.reason), ev.rule_id])
    return out


def main() -> None:
    client = Client.from_flags(flags(), environment="test")
    print(json.dumps(hash("rampgate")), flush=True)
    for line in sys.stdin:
        print(json.dumps(evaluate_all(client, json.loads(line))), flush=True)


if __name__ == "__main__":
    main()
