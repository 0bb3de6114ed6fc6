"""Experiment and rollout state machines, gates and policy.

Pure: ``reconcile(state, observations, now) -> (state, actions)``. Imports ``domain`` and
``stats`` only — never SQL, HTTP or a clock.
"""
