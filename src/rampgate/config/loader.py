"""Load ``rampgate.yaml``: environments, saved groups and flags (metrics, rollouts and
experiments join as further sections).

Each top-level section has one parser; an unknown section is an error that lists the known
ones, so a typo never silently drops half a config.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from rampgate.domain.model import Environment, Flag
from rampgate.errors import ConfigError

from .flags import KEY, KEY_EXPECTED, FlagDefinition, parse_flag
from .reader import Node

__all__ = ["Config", "load_file", "load_mapping", "load_text"]

SECTIONS = ("environments", "saved_groups", "flags", "metrics", "rollouts", "experiments")
# Read by rampgate.control (which this layer may not import): kept here as written.
CONTROL_SECTIONS = ("metrics", "rollouts", "experiments")


@dataclass(frozen=True, slots=True)
class Config:
    """A whole config document, checked."""

    environments: tuple[Environment, ...]
    flags: Mapping[str, FlagDefinition] = field(default_factory=dict)
    saved_groups: Mapping[str, Sequence[Any]] = field(default_factory=dict)
    source: str = ""
    # The raw ``metrics``, ``rollouts`` and ``experiments`` sections, for rampgate.control's
    # parsers (``parse_metrics``, ``parse_rollouts``, ``parse_experiments``).
    sections: Mapping[str, Any] = field(default_factory=dict)

    @property
    def environment_keys(self) -> tuple[str, ...]:
        return tuple(e.key for e in self.environments)

    def flags_for(self, environment: str) -> list[Flag]:
        """The flags as they apply in ``environment`` (its overrides applied)."""
        if environment not in self.environment_keys:
            raise ConfigError(
                f"unknown environment {environment!r}",
                source=self.source,
                path="environments",
                expected="one of " + ", ".join(self.environment_keys),
            )
        return [d.for_environment(environment) for d in self.flags.values()]


def _environments(node: Node) -> tuple[Environment, ...]:
    if node.value is None:
        return (Environment("default"),)
    out: list[Environment] = []
    if isinstance(node.value, Mapping):
        for key, desc in node.items():
            text = desc.get("description", "").string() if desc.value is not None else ""
            if desc.value is not None:
                desc.mapping(allowed=("description",))
            out.append(Environment(key, text))
    else:
        for item in node.elements():
            out.append(Environment(item.string(pattern=KEY, expected=KEY_EXPECTED)))
    if not out:
        raise node.error("no environments", expected="a list such as [dev, staging, prod]")
    keys = [e.key for e in out]
    if len(set(keys)) != len(keys):
        raise node.error("an environment is listed twice")
    return tuple(out)


def _saved_groups(node: Node) -> dict[str, list[Any]]:
    if node.value is None:
        return {}
    return {key: [item.value for item in group.elements()] for key, group in node.items()}


def load_mapping(data: Any, *, source: str = "<config>") -> Config:
    """Check and convert an already-parsed document (from YAML, JSON or an API body)."""
    root = Node(data, "", source)
    if data is None:
        raise root.error(
            "the document is empty", expected="a mapping with 'environments' and 'flags'"
        )
    root.mapping(allowed=SECTIONS)
    environments = _environments(root.get("environments"))
    groups = _saved_groups(root.get("saved_groups"))
    env_keys = [e.key for e in environments]
    flags: dict[str, FlagDefinition] = {}
    if root.has("flags") and root.get("flags").value is not None:
        for key, node in root.get("flags").items():
            flags[key] = parse_flag(key, node, environments=env_keys, groups=groups)
    _check_prerequisites(flags, source)
    sections = {name: root.get(name).value for name in CONTROL_SECTIONS if root.has(name)}
    return Config(environments, flags, groups, source, sections)


def _check_prerequisites(flags: Mapping[str, FlagDefinition], source: str) -> None:
    graph = {
        key: {p.flag for p in d.base.prerequisites}
        | {p.flag for r in d.base.rules for p in r.prerequisites}
        for key, d in flags.items()
    }
    for key, parents in graph.items():
        for parent in parents:
            if parent not in flags:
                raise ConfigError(
                    f"prerequisite flag {parent!r} is not defined",
                    source=source,
                    path=f"flags.{key}.prerequisites",
                )
    # Depth-first search for a cycle: a config that can never evaluate is refused at load.
    state: dict[str, int] = {}

    def visit(key: str, trail: list[str]) -> None:
        state[key] = 1
        for parent in sorted(graph[key]):
            if state.get(parent) == 1:
                cycle = (
                    " → ".join([*trail[trail.index(parent) :], parent])
                    if parent in trail
                    else parent
                )
                raise ConfigError(
                    f"prerequisites form a cycle: {cycle}",
                    source=source,
                    path=f"flags.{key}.prerequisites",
                )
            if parent not in state:
                visit(parent, [*trail, parent])
        state[key] = 2

    for key in graph:
        if key not in state:
            visit(key, [key])


def load_text(text: str, *, source: str = "<string>") -> Config:
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        raise ConfigError(
            f"not valid YAML: {getattr(exc, 'problem', exc)}", source=source, path=where
        ) from exc
    return load_mapping(data, source=source)


def load_file(path: str | Path) -> Config:
    """Load and check a ``rampgate.yaml`` file (JSON is YAML too)."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read the file: {exc.strerror}", source=str(p)) from exc
    return load_text(text, source=str(p))
