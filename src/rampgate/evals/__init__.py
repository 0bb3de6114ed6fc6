"""Offline gates: behavioural tests, regression suites, drift and safety scanners."""
