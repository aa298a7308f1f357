"""Replayed on booted hosts: a 6.x greenfield ends verified (each secondary's brick, setup and start after
the window), and a rotated SSH key re-runs every step without stopping CE. One lab for the whole module.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.hosts.replay_checks import Replayed, assert_verified, replayed, rotate_ssh_key


@pytest.fixture(scope="module")
def greenfield6_flow() -> Iterator[Replayed]:
    yield from replayed("greenfield", "v6.1.0")


def test_greenfield_6x_ends_with_a_verified_cluster(greenfield6_flow: Replayed) -> None:
    flow, _, replay = greenfield6_flow
    assert_verified(flow, replay)
    ran = [r.name for r in sorted(replay.results, key=lambda r: r.started) if "-cutover-" in r.name or "-join-" in r.name]
    assert ran == [
        "ce-1-steps-cutover-stop",
        "ce-1-steps-cutover-setup",
        "ce-1-steps-cutover-start",
        "ce-1-steps-join-brick-ce-2",
        "ce-2-steps-join-setup",
        "ce-2-steps-join-start",
        "ce-1-steps-join-brick-ce-3",
        "ce-3-steps-join-setup",
        "ce-3-steps-join-start",
    ]
    again = flow.replay(flow.run_program(), state_file=replay.state_file)
    assert [r.name for r in again.results if r.ran] == []


def test_a_rotated_ssh_key_on_6x_reruns_every_step_and_stops_ce_nowhere(greenfield6_flow: Replayed) -> None:
    flow, _, replay = greenfield6_flow
    rotate_ssh_key(flow, replay)
