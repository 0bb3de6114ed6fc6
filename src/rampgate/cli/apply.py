"""``rampgate apply -f rampgate.yaml``: make the server's flags match a config file.

Shows a plan (create / update / unchanged, with a diff), then applies each change with
compare-and-swap (``If-Match``) and an idempotency key derived from the change itself, so a
retried apply never changes anything twice and a second apply finds nothing to do. A flag's
kill state is operational and is never changed by apply (use ``rampgate kill``), and neither
are the parts the controller manages: the rules of running rollouts and experiments
(``rollout:…``, ``experiment:…``) and a shadow config the file does not set.
"""

from __future__ import annotations

import difflib
import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import typer

from rampgate.config import flag_to_document, inline_saved_groups

from .http import Api, connect, segment
from .options import console, load_or_exit

Url = Annotated[str, typer.Option("--url", envvar="RAMPGATE_URL", help="Server URL.")]
Token = Annotated[str, typer.Option("--token", envvar="RAMPGATE_TOKEN", help="Admin token.")]
WIRE_ONLY = ("version", "pin_generation", "killed")
MANAGED_RULES = ("rollout:", "experiment:")


@dataclass(frozen=True, slots=True)
class Step:
    environment: str
    key: str
    action: str  # create | update | unchanged | create-environment
    document: dict[str, Any]
    current: dict[str, Any] | None = None
    version: int | None = None

    def diff(self) -> str:
        before = json.dumps(_comparable(self.current or {}), indent=2, sort_keys=True).splitlines()
        after = json.dumps(_comparable(self.document), indent=2, sort_keys=True).splitlines()
        return "\n".join(difflib.unified_diff(before, after, "server", "file", lineterm="", n=1))


def _comparable(document: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in document.items() if k not in WIRE_ONLY}


def plan(api: Api, path: Path) -> list[Step]:
    config = load_or_exit(path)
    existing = {e["key"] for e in api.call("GET", "/environments")}
    steps: list[Step] = []
    for env in config.environment_keys:
        if env not in existing:
            steps.append(Step(env, "", "create-environment", {}))
        for flag in config.flags_for(env):
            # Saved groups travel inside each flag: the server stores flags one by one.
            document = inline_saved_groups(flag_to_document(flag, wire=False), config.saved_groups)
            current = (
                api.call("GET", _flag_path(env, flag.key), none_if_missing=True)
                if env in existing
                else None
            )
            if current is None:
                steps.append(Step(env, flag.key, "create", document))
                continue
            server_doc = current["document"]
            document["killed"] = bool(server_doc.get("killed", False))
            document = _keep_managed(document, server_doc)
            same = _comparable(server_doc) == _comparable(document)
            steps.append(
                Step(
                    env,
                    flag.key,
                    "unchanged" if same else "update",
                    document,
                    server_doc,
                    current["version"],
                )
            )
    return steps


def _keep_managed(document: dict[str, Any], server: dict[str, Any]) -> dict[str, Any]:
    """The file's flag with the controller's parts of the server's flag kept in place.

    A rollout's rule sits where the controller put it (its index on the server); syncing a
    config file mid-rollout must neither drop it nor move it.
    """
    rules = [r for r in document.get("rules", []) if not _managed(r)]
    for index, rule in enumerate(server.get("rules", [])):
        if _managed(rule):
            rules.insert(min(index, len(rules)), rule)
    kept = {**document, "rules": rules} if rules or "rules" in document else dict(document)
    if "shadow" in server and "shadow" not in document:
        kept["shadow"] = server["shadow"]
    return kept


def _managed(rule: dict[str, Any]) -> bool:
    return str(rule.get("id", "")).startswith(MANAGED_RULES)


def _idempotency_key(step: Step) -> str:
    material = json.dumps(
        [step.environment, step.key, step.action, step.version, step.document], sort_keys=True
    )
    return "apply-" + hashlib.sha256(material.encode()).hexdigest()[:40]


def _flag_path(environment: str, key: str) -> str:
    return f"/environments/{segment(environment)}/flags/{segment(key)}"


def _execute(api: Api, step: Step) -> dict[str, Any]:
    headers = {"Idempotency-Key": _idempotency_key(step)}
    if step.action == "create-environment":
        return dict(api.call("POST", "/environments", {"key": step.environment}, headers=headers))
    if step.action == "update":
        headers["If-Match"] = f'"{step.version}"'
    return dict(
        api.call("PUT", _flag_path(step.environment, step.key), step.document, headers=headers)
    )


def apply(
    file: Annotated[Path, typer.Option("--file", "-f", help="Config file to apply.")],
    url: Url = "http://127.0.0.1:7400",
    token: Token = "",
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Show the plan; change nothing.")
    ] = False,
) -> None:
    """Make the server's environments and flags match FILE (create and update; never delete)."""
    with connect(url, token) as api:
        steps = plan(api, file)
        changes = [s for s in steps if s.action != "unchanged"]
        for step in steps:
            label = {
                "create": "[green]create[/green]",
                "update": "[yellow]update[/yellow]",
                "unchanged": "[dim]unchanged[/dim]",
                "create-environment": "[green]create environment[/green]",
            }[step.action]
            console.print(f"{label} {step.environment}{'/' + step.key if step.key else ''}")
            if step.action == "update":
                console.print(step.diff(), markup=False, highlight=False)
        console.print(f"plan: {len(changes)} to change, {len(steps) - len(changes)} unchanged")
        if dry_run or not changes:
            return
        # Environments first: a flag's PUT needs its environment to exist.
        for step in sorted(changes, key=lambda s: s.action != "create-environment"):
            receipt = _execute(api, step)
            where = f"{step.environment}/{step.key}".rstrip("/")
            console.print(f"applied {step.action} {where}: change {receipt.get('change_id')}")


def register(app: typer.Typer) -> None:
    app.command("apply")(apply)
