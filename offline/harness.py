"""Run ``__main__.py`` under Pulumi mocks and record everything it declares, with its options.

Owns: one in-process run of the real program (same entry point as ``pulumi up``) against
``AwsMocks``, capturing each resource's type, name, resolved inputs, parent and the options mocks
cannot see (protect, retain_on_delete, delete_before_replace, ignore_changes, depends_on, deleted_with,
additional_secret_outputs, custom_timeouts), plus the stack outputs or the settings error.

Uses only Pulumi's public testing API: ``pulumi.runtime.set_mocks`` and ``set_all_config`` set the
stage, a stack transformation (``pulumi.runtime.register_stack_transformation``) sees every
resource's options as declared, and ``pulumi.runtime.test`` runs the program and waits for it.

Must not touch: the program. It is run exactly as written; only the runtime underneath is mocked.
"""

from __future__ import annotations

import json
import runpy
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pulumi

from components.settings import PROJECT
from offline.mocks import AwsMocks, AwsWorld

MAIN = Path(__file__).resolve().parent.parent / "__main__.py"
#: the organization the runs are in (what a self-managed backend calls every stack's organization)
ORGANIZATION = "organization"


@dataclass
class Declared:
    """One resource as the program declared it."""

    typ: str
    name: str
    custom: bool
    parent: str | None
    inputs: dict[str, Any] = field(default_factory=dict)
    protect: bool = False
    retain_on_delete: bool = False
    delete_before_replace: bool = False
    ignore_changes: list[str] = field(default_factory=list)
    depends_on: list[str] = field(default_factory=list)
    deleted_with: str | None = None
    additional_secret_outputs: list[str] = field(default_factory=list)
    #: the engine's bounds per operation ("create", "update", "delete" -> duration), as declared
    custom_timeouts: dict[str, str] = field(default_factory=dict)
    resource: Any = None


@dataclass
class Run:
    """What one run of the program declared, exported, or refused."""

    resources: list[Declared]
    outputs: dict[str, Any]
    error: str | None
    mocks: AwsMocks

    def of_type(self, typ: str) -> list[Declared]:
        return [r for r in self.resources if r.typ == typ]

    def named(self, name: str) -> Declared:
        matches = [r for r in self.resources if r.name == name]
        if len(matches) != 1:
            raise KeyError(f"{len(matches)} resources named {name!r}")
        return matches[0]


class _Recorder:
    """A stack transformation that records each resource's options as declared and changes nothing."""

    def __init__(self) -> None:
        self.entries: list[Declared] = []
        self.by_resource: dict[int, Declared] = {}

    def _name_of(self, res: Any) -> str | None:
        entry = None if res is None else self.by_resource.get(id(res))
        return entry.name if entry else None

    def __call__(self, args: pulumi.ResourceTransformationArgs) -> None:
        options = args.opts
        if options.id is not None or options.urn is not None:
            return None  # a look-up of an existing resource, not a declaration
        parent = None if options.parent is None else self.by_resource.get(id(options.parent))
        # the engine inherits protect from the parent when the resource leaves it unset
        protect = options.protect if options.protect is not None else bool(parent and parent.protect)
        depends = options.depends_on if isinstance(options.depends_on, list) else (
            [options.depends_on] if options.depends_on is not None else [])
        entry = Declared(
            typ=args.type_,
            name=args.name,
            custom=isinstance(args.resource, pulumi.CustomResource),
            parent=parent.name if parent else None,
            protect=bool(protect),
            retain_on_delete=bool(options.retain_on_delete),
            delete_before_replace=bool(options.delete_before_replace),
            ignore_changes=list(options.ignore_changes or []),
            depends_on=[n for n in (self._name_of(d) for d in depends) if n],
            deleted_with=self._name_of(options.deleted_with),
            additional_secret_outputs=list(options.additional_secret_outputs or []),
            custom_timeouts=_timeouts(options.custom_timeouts),
            resource=args.resource,
        )
        self.by_resource[id(args.resource)] = entry
        self.entries.append(entry)
        return None


def _timeouts(timeouts: pulumi.CustomTimeouts | None) -> dict[str, str]:
    if timeouts is None:
        return {}
    declared = {"create": timeouts.create, "update": timeouts.update, "delete": timeouts.delete}
    return {operation: value for operation, value in declared.items() if value}


def full_config(config: Mapping[str, Any]) -> dict[str, str]:
    """Bare or namespaced keys -> the engine's form (``project:key`` -> string)."""
    result: dict[str, str] = {}
    for key, value in config.items():
        full = key if ":" in key else f"{PROJECT}:{key}"
        result[full] = value if isinstance(value, str) else json.dumps(value)
    return result


def run(
    config: Mapping[str, Any],
    *,
    stack: str = "dev",
    world: AwsWorld | None = None,
    secret_keys: list[str] | None = None,
    mocks: AwsMocks | None = None,
) -> Run:
    """Run the program once with this config; never raises for a settings error (see Run.error)."""
    mocks = mocks or AwsMocks(world)
    pulumi.runtime.reset_options()  # also forgets the previous run's root stack
    pulumi.runtime.set_mocks(mocks, project=PROJECT, stack=stack, preview=False, organization=ORGANIZATION)
    pulumi.runtime.set_all_config(full_config(config), [k if ":" in k else f"{PROJECT}:{k}" for k in (secret_keys or [])])
    recorder = _Recorder()
    pulumi.runtime.register_stack_transformation(recorder)
    outputs: dict[str, Any] = {}

    @pulumi.runtime.test
    def program() -> pulumi.Output[None]:
        runpy.run_path(str(MAIN), run_name="__main__")
        root = pulumi.runtime.get_root_resource()
        exported: dict[str, Any] = getattr(root, "outputs", {})
        return pulumi.Output.from_input(exported).apply(outputs.update)

    error: str | None = None
    try:
        program()
    except pulumi.RunError as failure:
        error = str(failure)
        outputs = {}
    inputs_by_key = {(typ, name): inputs for typ, name, inputs in mocks.declared}
    for entry in recorder.entries:
        entry.inputs = inputs_by_key.get((entry.typ, entry.name), {})
    return Run(resources=recorder.entries, outputs=outputs, error=error, mocks=mocks)


SECRET_SIG = "4dabf18193072939515e22adb298388d"  # noqa: S105 - Pulumi's secret marker, not a secret


def plain_leaks(run_result: Run, secrets: list[str]) -> list[str]:
    """Every place a secret value appears in a resource input outside a Pulumi secret."""
    leaks: list[str] = []

    def walk(value: Any, where: str) -> None:
        if isinstance(value, dict):
            if value.get(SECRET_SIG) == "1b47061264138c4ac30d75fd1eb44270":
                return  # wrapped as a secret: stays encrypted in state and masked in logs
            for k, v in value.items():
                walk(v, f"{where}.{k}")
        elif isinstance(value, list):
            for i, v in enumerate(value):
                walk(v, f"{where}[{i}]")
        elif isinstance(value, str):
            for secret in secrets:
                if secret and secret in value:
                    leaks.append(where)

    for resource in run_result.resources:
        walk(resource.inputs, f"{resource.name}")
    return leaks
