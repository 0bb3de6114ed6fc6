"""The public surface changes only on purpose: update this list in the same commit."""

import rampgate

EXPECTED = [
    "Client",
    "ClientClosedError",
    "ClientSettings",
    "ConditionError",
    "Config",
    "ConfigError",
    "Context",
    "Environment",
    "Evaluation",
    "Flag",
    "FlagNotFoundError",
    "JsonlSink",
    "LruPinStore",
    "Namespace",
    "Pin",
    "Portion",
    "Prerequisite",
    "RampgateError",
    "Reason",
    "RemoteSettings",
    "Rule",
    "SchemaError",
    "ShadowConfig",
    "ShadowSettings",
    "Split",
    "__version__",
    "exact_match",
    "load_file",
    "text_similarity",
    "thaw",
]


def test_all_is_pinned() -> None:
    assert rampgate.__all__ == EXPECTED


def test_all_is_sorted_and_importable() -> None:
    assert rampgate.__all__ == sorted(rampgate.__all__)
    for name in rampgate.__all__:
        assert getattr(rampgate, name) is not None


def test_every_public_error_derives_from_the_root() -> None:
    for name in rampgate.__all__:
        obj = getattr(rampgate, name)
        if isinstance(obj, type) and issubclass(obj, Exception):
            assert issubclass(obj, rampgate.RampgateError), name
