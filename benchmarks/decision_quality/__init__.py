"""Decision quality of rampgate.stats and of whole rollouts, in full: every figure beside its goal.

    uv run --frozen python -m benchmarks.decision_quality            # about six minutes
    uv run --frozen python -m benchmarks.decision_quality --scale 0.1 # a quick smoke run
    uv run --frozen python -m benchmarks.decision_quality --only rollouts  # about four minutes

The fast versions of the same checks run in ``tests/stats`` and ``tests/control``; these use
more runs, more looks and more scenarios. Agreement and timing need ``.venv-gbstats``
(``scripts/gbstats-venv``).
"""
