"""What this stack deployed last: its own outputs, read back from the stack's state before any resource.

Owns: the one read of the running stack's own outputs (the engine's built-in
``pulumi:pulumi:readStackOutputs``), shared by every check that compares a setting with what the
stack runs (``version_change.py``, ``cluster_size.py``), and the refusal when that state cannot be
read. What each output means, and which changes are allowed, stays with those checks.

The read is synchronous on purpose: a ``pulumi.StackReference`` hands its outputs back as an
``Output``, which resolves only after the program has gone on declaring resources, so a refusal
from it would come after ``pulumi up`` had started on them. The engine's built-in
``pulumi:pulumi:readStackOutputs`` (what ``StackReference``'s synchronous ``getOutputValue`` calls in
Pulumi's Node.js SDK, and the same reader a ``StackReference`` uses) answers through
``pulumi.runtime.invoke`` before the first resource. A stack never deployed has no outputs (the
engine's backend client answers an empty map while the stack has no root resource): that is a first
deployment. Under ``pulumi.runtime.set_mocks`` the mocks' ``call`` answers the read.

Must not touch: resources; the settings' own rules (``settings.py``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pulumi

from components.settings import Problem, SettingsError

#: the engine's built-in reader of a stack's outputs
READ_STACK_OUTPUTS = "pulumi:pulumi:readStackOutputs"


def this_stack() -> str:
    """The fully qualified name of the running stack (``org/project/stack``; a bare stack name, which means the
    running project's stack in the default organization, when the engine names no organization)."""
    organization = pulumi.get_organization()
    return f"{organization}/{pulumi.get_project()}/{pulumi.get_stack()}" if organization else pulumi.get_stack()


def outputs(judged: Sequence[str]) -> dict[str, Any]:
    """The outputs this stack exported last; empty when it has never been deployed (a first deployment).

    Raises SettingsError naming each of the ``judged`` settings when the stack's state cannot be read:
    without it a change of those settings would pass unseen.
    """
    try:
        result = pulumi.runtime.invoke(READ_STACK_OUTPUTS, {"name": this_stack()})
    except Exception as error:  # noqa: BLE001 - the engine reports any failure as a plain Exception
        raise SettingsError([Problem(setting=setting, message=(
            f"cannot be compared with what this stack runs: reading the stack's own outputs failed ({error}); "
            "nothing was changed: run again once the stack's state can be read")) for setting in judged]) from None
    answer: Any = result.value or {}
    return dict(answer.get("outputs") or {})
