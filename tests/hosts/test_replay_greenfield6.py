"""Replayed on booted hosts: a 6.x greenfield ends verified (each secondary's brick, setup and start after
the window), and a rotated SSH key re-runs every step without stopping CE. One lab for the whole module.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.hosts.replay_checks import Replayed, assert_verified, replayed, rotate_ssh_key, upgrade
from tests.hosts.replay_support import window_steps


@pytest.fixture(scope="module")
def greenfield6_flow() -> Iterator[Replayed]:
    yield from replayed("greenfield", "v6.0.1")  # upgraded to v6.1.0 by the last test


def test_greenfield_6x_ends_with_a_verified_cluster(greenfield6_flow: Replayed) -> None:
    flow, _, replay = greenfield6_flow
    assert_verified(flow, replay)
    assert [r.name for r in window_steps(replay.results)] == [f"ce-1-steps-cutover-{s}" for s in ("stop", "setup", "start")]
    joins = [r.name for r in sorted(replay.results, key=lambda r: r.started) if "-join-" in r.name]
    assert joins == ["ce-1-steps-join-setup", "ce-1-steps-join-start",
                     "ce-1-steps-join-brick-ce-2", "ce-2-steps-join-setup", "ce-2-steps-join-start",
                     "ce-1-steps-join-brick-ce-3", "ce-3-steps-join-setup", "ce-3-steps-join-start"]  # fmt: skip
    again = flow.replay(flow.run_program(), state_file=replay.state_file)
    assert [r.name for r in again.results if r.ran] == []


def test_a_rotated_ssh_key_on_6x_reruns_every_step_and_stops_ce_nowhere(greenfield6_flow: Replayed) -> None:
    flow, _, replay = greenfield6_flow
    rotate_ssh_key(flow, replay)


def test_an_upgrade_from_6_0_1_stops_the_secondaries_first_and_takes_ce_down_only_on_its_primary(greenfield6_flow: Replayed) -> None:
    """Last in the module: it moves the fixture's cluster to v6.1.0 (docs/ce-lifecycle.md §2; the checks: replay_checks.upgrade)."""
    flow, _, replay = greenfield6_flow
    upgrade(flow, replay, deployed="v6.0.1", wanted="v6.1.0")
