"""Evaluation is a pure function of (flag version, context): same answer in any process.

Two worker processes with hash seeds different from this one (and from each other) evaluate the
same contexts; any dependence on ``hash()``, set or dict order would make them disagree.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rampgate import Client

from ._worker import evaluate_all, flags
from .strategies import unit_ids

ROOT = Path(__file__).resolve().parents[2]


class Worker:
    def __init__(self, hash_seed: str) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "tests.properties._worker"],
            cwd=ROOT,
            env={**os.environ, "PYTHONHASHSEED": hash_seed},
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            encoding="ascii",  # json.dumps escapes everything else, lone surrogates included
        )
        self.hash_of_name = self._read()

    def _read(self) -> Any:
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if not line:
            assert self.proc.stderr is not None
            pytest.fail(f"worker died: {self.proc.stderr.read()}")
        return json.loads(line)

    def evaluate(self, contexts: list[Any]) -> Any:
        assert self.proc.stdin is not None
        self.proc.stdin.write(json.dumps(contexts) + "\n")
        self.proc.stdin.flush()
        return self._read()

    def close(self) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.close()
        self.proc.wait(timeout=10)
        for stream in (self.proc.stdout, self.proc.stderr):
            if stream is not None:
                stream.close()


@pytest.fixture(scope="module")
def workers() -> Iterator[list[Worker]]:
    ours = os.environ.get("PYTHONHASHSEED", "")
    seeds = [s for s in ("0", "4242", "987654321") if s != ours][:2]
    started = [Worker(seed) for seed in seeds]
    yield started
    for worker in started:
        worker.close()


@pytest.fixture(scope="module")
def client() -> Client:
    return Client.from_flags(flags(), environment="test")


def test_workers_really_hash_differently(workers: list[Worker]) -> None:
    hashes = {w.hash_of_name for w in workers} | {hash("rampgate")}
    assert len(hashes) == 3


_attributes = st.fixed_dictionaries(
    {},
    optional={
        "country": st.sampled_from(["US", "CA", "DE", "ü", "🚀", ""]),
        "plan": st.sampled_from(["free", "trial", "pro", "enterprise"]),
        "tags": st.lists(st.sampled_from(["a", "b", "ü"]), max_size=3),
    },
)
_contexts = st.lists(
    st.tuples(st.none() | unit_ids, st.none() | unit_ids, _attributes), min_size=1, max_size=40
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(contexts=_contexts)
def test_same_assignment_in_every_process(
    workers: list[Worker], client: Client, contexts: list[Any]
) -> None:
    ours = evaluate_all(client, json.loads(json.dumps(contexts)))
    for worker in workers:
        assert worker.evaluate(contexts) == ours


def test_thousands_of_ids_agree_across_processes(workers: list[Worker], client: Client) -> None:
    contexts = [
        [f"user-{i}", f"conv-{i * 7919}", {"country": ["US", "DE", "CA"][i % 3], "plan": "pro"}]
        for i in range(3_000)
    ]
    ours = evaluate_all(client, contexts)
    assert {row[1] for row in ours} >= {"off", "a", "b", "c"}
    for worker in workers:
        assert worker.evaluate(contexts) == ours
