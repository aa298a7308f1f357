"""A future release line is one new entry in ``scripts/cenode/lines``: the program plans it with no other change."""

from __future__ import annotations

import dataclasses

import pytest

from offline import harness
from scripts.cenode import lines
from tests.unit import stacks


def test_a_7x_line_made_of_6x_facts_plus_one_port_plans_end_to_end(monkeypatch: pytest.MonkeyPatch) -> None:
    extra_port = lines.PortRange(9443, 9443, "a port only 7.x needs")
    seven = dataclasses.replace(lines.CE6, major=7, cluster_ports=(*lines.CE6.cluster_ports, extra_port))
    monkeypatch.setitem(lines.LINES, 7, seven)
    result = harness.run(stacks.greenfield(ceVersion="v7.0.0"), secret_keys=stacks.SECRET_KEYS)
    assert result.error is None, result.error
    assert result.outputs["releaseLine"] == "7.x"
    names = {r.name for r in result.resources}
    assert {"ce-1-steps-bricks", "ce-2-bricks", "ce-1-steps-join-brick-ce-3", "ce-3-steps-join-setup"} <= names
    assert not [n for n in names if "-efs" in n or n.endswith("-steps-mount")]
    opened = {(r.inputs.get("fromPort"), r.inputs.get("description")) for r in result.resources}
    assert (9443, "CE cluster: a port only 7.x needs") in opened


def test_an_unknown_line_is_refused_naming_the_known_ones() -> None:
    result = harness.run(stacks.greenfield(ceVersion="v7.0.0"), secret_keys=stacks.SECRET_KEYS)
    assert result.error is not None and "lines known: 5.x, 6.x" in result.error
