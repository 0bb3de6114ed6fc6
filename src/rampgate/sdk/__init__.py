"""The SDK: local evaluation, session pins, and batched reporting of exposures and events."""

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
    "Sink",
]
