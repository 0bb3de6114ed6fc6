"""The SDK: local evaluation, session pins, and batched reporting of exposures and events."""

from .buffer import Sink
from .client import Client, ClientSettings
from .http_sink import HttpSink
from .pins import LruPinStore, PinRecord, PinStore
from .remote import RemoteSettings
from .sinks import JsonlSink

__all__ = [
    "Client",
    "ClientSettings",
    "HttpSink",
    "JsonlSink",
    "LruPinStore",
    "PinRecord",
    "PinStore",
    "RemoteSettings",
    "Sink",
]
