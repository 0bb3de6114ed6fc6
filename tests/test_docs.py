"""Documentation cannot fall behind: every command, option, setting and config key is documented."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path
from typing import Any

import typer.main

from rampgate.cli import app
from rampgate.config import flags as config_flags
from rampgate.config import loader
from rampgate.sdk import ClientSettings, RemoteSettings

ROOT = Path(__file__).resolve().parents[1]
CLI_DOC = (ROOT / "docs" / "cli.md").read_text(encoding="utf-8")
CONFIG_DOC = (ROOT / "docs" / "config.md").read_text(encoding="utf-8")
SDK_DOC = (ROOT / "docs" / "sdk.md").read_text(encoding="utf-8")
SERVER_DOC = (ROOT / "docs" / "server.md").read_text(encoding="utf-8")


def _commands() -> dict[str, Any]:
    """Every leaf command by its full name ("validate", "token create"…)."""
    out: dict[str, Any] = {}

    def walk(prefix: str, group: Any) -> None:
        for name, command in group.commands.items():
            full = f"{prefix} {name}".strip()
            if hasattr(command, "commands"):
                walk(full, command)
            else:
                out[full] = command

    walk("", typer.main.get_command(app))
    assert out, "the CLI has no commands?"
    return out


def test_every_command_has_a_section() -> None:
    for name in _commands():
        assert re.search(rf"^## `rampgate {re.escape(name)}\b", CLI_DOC, re.MULTILINE), name


def test_every_option_is_documented() -> None:
    for name, command in _commands().items():
        for param in command.params:
            for opt in getattr(param, "opts", []):
                if opt.startswith("--"):
                    assert opt in CLI_DOC, f"rampgate {name} {opt}"


def test_every_client_setting_is_documented() -> None:
    for f in [*dataclasses.fields(ClientSettings), *dataclasses.fields(RemoteSettings)]:
        assert f"| `{f.name}` |" in SDK_DOC, f.name


def test_every_server_setting_is_documented() -> None:
    from rampgate.server.settings import ServerSettings

    for f in dataclasses.fields(ServerSettings):
        assert f"`RAMPGATE_{f.name.upper()}` (`{f.name}`)" in SERVER_DOC, f.name


def test_every_route_is_documented() -> None:
    """Each path of the OpenAPI document has its row in docs/server.md.

    The table abbreviates (``…/{name}/start`` · ``/stop``), so a path counts as documented when
    its last literal segment, with its slash, is in the table.
    """
    from rampgate.server.app import create_app
    from rampgate.server.settings import ServerSettings

    paths = create_app(ServerSettings(database_url="sqlite://")).openapi()["paths"]
    assert len(paths) > 25
    for path in paths:
        literal = [p for p in path.split("/") if p and not p.startswith("{")]
        assert f"/{literal[-1]}" in SERVER_DOC, path


def test_every_config_key_is_documented() -> None:
    keys = {
        *loader.SECTIONS,
        *config_flags._FLAG_KEYS,
        *config_flags._RULE_KEYS,
        *config_flags._SPLIT_KEYS,
        *config_flags._PORTION_KEYS,
    }
    for key in sorted(keys):
        assert f"`{key}`" in CONFIG_DOC, key
