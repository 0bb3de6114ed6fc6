"""The SDK: local evaluation, session pins, shadow runs, batched reporting of records."""

from rampgate.guard import ShadowSettings, exact_match, text_similarity

from .buffer import Sink
from .client import Client, ClientSettings
from .pins import LruPinStore, PinRecord, PinStore
from .settings import RemoteSettings
from .sinks import JsonlSink

__all__ = [
    "Client",
    "ClientSettings",
    "JsonlSink",
    "LruPinStore",
    "PinRecord",
    "PinStore",
    "RemoteSettings",
    "ShadowSettings",
    "Sink",
    "exact_match",
    "text_similarity",
]
