"""Config as code: ``rampgate.yaml`` into checked domain objects.

This layer sits beside ``domain``: it may import ``domain`` and third-party parsers (PyYAML,
jsonschema), and the SDK, store, server and CLI import it. Errors name the file, the path and
what was expected.
"""

from .codec import flag_from_document, flag_to_document, inline_saved_groups
from .flags import FlagDefinition, parse_flag
from .loader import Config, load_file, load_mapping, load_text
from .reader import parse_duration

__all__ = [
    "Config",
    "FlagDefinition",
    "flag_from_document",
    "flag_to_document",
    "inline_saved_groups",
    "load_file",
    "load_mapping",
    "load_text",
    "parse_duration",
    "parse_flag",
]
