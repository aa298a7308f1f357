"""Replayed on booted hosts: a 5.x greenfield ends verified, and a new bastion re-runs every step without
stopping CE. One lab for the whole module (tests/hosts/replay_checks.py).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.hosts import rerun_probe
from tests.hosts.lab import Host
from tests.hosts.replay_checks import (
    Replayed,
    assert_everything_reran_and_ce_kept_running,
    assert_verified,
    fail_and_roll_back,
    replayed,
    rerun_with,
    upgrade,
)
from tests.hosts.replay_support import CE_DIR


@pytest.fixture(scope="module")
def greenfield_flow() -> Iterator[Replayed]:
    yield from replayed("greenfield", "5.1.1")  # upgraded to v5.1.2 by the last test


def test_greenfield_ends_with_a_verified_cluster(greenfield_flow: Replayed) -> None:
    flow, _, replay = greenfield_flow
    assert_verified(flow, replay)
    again = flow.replay(flow.run_program(), state_file=replay.state_file)
    assert [r.name for r in again.results if r.ran] == []


def test_a_new_bastion_reruns_every_step_and_stops_ce_nowhere(greenfield_flow: Replayed) -> None:
    """``bastionHost`` set to one of the nodes: the replay jumps through it (direct-tcpip, like ProxyJump)."""
    flow, _, replay = greenfield_flow
    bastion = flow.hosts[0]

    def through_bastion(host: Host) -> int:
        return sum(1 for source, _ in rerun_probe.accepted_logins(host) if source == bastion.ip)

    logins = {h.name: through_bastion(h) for h in flow.hosts}
    before = {h.name: rerun_probe.standin_ce(h, CE_DIR) for h in flow.hosts}
    changed, again = rerun_with(flow, replay, "bastion", bastionHost=bastion.ip)
    assert_everything_reran_and_ce_kept_running(flow, replay, changed, again, before)
    for host in flow.hosts:  # sshd saw the steps' logins come from the bastion's address
        assert through_bastion(host) > logins[host.name], host.name


def test_a_failed_upgrade_is_rolled_back_to_5_1_1_and_the_next_run_stops_nothing(greenfield_flow: Replayed) -> None:
    """README "When an upgrade fails" on booted hosts (the checks: replay_checks.fail_and_roll_back); the cluster ends on
    5.1.1, healthy, for the next test's upgrade."""
    flow, _, replay = greenfield_flow
    fail_and_roll_back(flow, replay, deployed="5.1.1", wanted="v5.1.2")


def test_an_upgrade_from_5_1_1_stops_the_secondaries_first_and_takes_ce_down_only_on_its_primary(greenfield_flow: Replayed) -> None:
    """Last in the module: it moves the fixture's cluster to v5.1.2 (docs/ce-lifecycle.md §2; the checks: replay_checks.upgrade)."""
    flow, _, replay = greenfield_flow
    upgrade(flow, replay, deployed="5.1.1", wanted="v5.1.2")
