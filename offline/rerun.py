"""Which remote steps run again after a change: pulumi-command's rule over recorded runs.

Owns: a remote step's fingerprint (:func:`digest`: every input of a ``remote.Command`` /
``remote.CopyToRemote``, Pulumi's secret wrappers removed, a ``StringAsset`` by the hash of its
text) and :func:`compare`, which puts two recorded runs of the program (before and after a change,
``offline.harness``) side by side: the steps that run again (their inputs changed), the new ones
(they run for the first time), the ones gone, and the ones left alone. That is the provider's
rule: a step's ``create`` runs again only when its own inputs (its command, stdin, connection,
``triggers``) change; a step it depends on running again does not by itself re-run it.
The offline plan shows it (``--change``); the host tests' replay applies it step by step.

Must not touch: anything; pure functions over the harness's records.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

from offline.harness import SECRET_SIG, Declared, Run

REMOTE = ("command:remote:Command", "command:remote:CopyToRemote")


def unwrap(value: Any) -> Any:
    """Plain value of an input, with Pulumi's secret wrappers removed."""
    if isinstance(value, dict):
        if SECRET_SIG in value:
            return unwrap(value.get("value"))
        return {k: unwrap(v) for k, v in value.items()}
    if isinstance(value, list):
        return [unwrap(v) for v in value]
    return value


def digest(step: Declared) -> str:
    """What the engine compares to decide whether a step runs again: all of its inputs."""

    def plain(value: Any) -> Any:
        if hasattr(value, "text"):  # StringAsset
            return {"asset": hashlib.sha256(str(value.text).encode()).hexdigest()}
        if isinstance(value, dict):
            return {k: plain(v) for k, v in sorted(value.items())}
        if isinstance(value, list):
            return [plain(v) for v in value]
        return value

    return hashlib.sha256(json.dumps(plain(unwrap(step.inputs)), sort_keys=True, default=str).encode()).hexdigest()


def remote_steps(run: Run) -> dict[str, Declared]:
    """The run's remote steps by name, in declaration order."""
    return {r.name: r for r in run.resources if r.typ in REMOTE}


@dataclass(frozen=True)
class Reruns:
    """Step names, in the order the later run declares them (``gone``: the earlier run's order)."""

    again: list[str]
    new: list[str]
    gone: list[str]
    unchanged: list[str]


def compare(before: Run, after: Run) -> Reruns:
    """What ``pulumi up`` would run after going from ``before`` to ``after``."""
    old, current = remote_steps(before), remote_steps(after)
    again = [n for n, s in current.items() if n in old and digest(old[n]) != digest(s)]
    new = [n for n in current if n not in old]
    gone = [n for n in old if n not in current]
    unchanged = [n for n in current if n in old and n not in again]
    return Reruns(again=again, new=new, gone=gone, unchanged=unchanged)
