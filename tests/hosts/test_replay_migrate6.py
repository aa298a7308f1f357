"""Replayed on booted hosts: a 6.x standalone migrated into HA ends verified, backed up on its own disk and
with the standalone's secrets. One lab for the whole module (tests/hosts/replay_checks.py).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.hosts.replay_checks import (
    Replayed,
    assert_nothing_downloaded_inside_the_window,
    assert_verified,
    replayed,
    restore_the_standalone,
)


@pytest.fixture(scope="module")
def migrate6_flow() -> Iterator[Replayed]:
    yield from replayed("migrate", "v6.1.0")


def test_migrate_6x_from_a_standalone_ends_verified(migrate6_flow: Replayed) -> None:
    flow, _, replay = migrate6_flow
    assert_verified(flow, replay)
    rc, out, _ = flow.hosts[0].run("sudo ls /var/backups/cloud-exchange-ha/")
    assert rc == 0 and ".tar.gz" in out, "the 6.x standalone is backed up on its own disk before the cutover"
    rc, _, err = flow.hosts[0].run("sudo /opt/cloud-exchange-ha/ce-node inspect --check")
    assert rc == 0, err


def test_nothing_is_downloaded_inside_the_6x_window(migrate6_flow: Replayed) -> None:
    flow, _, replay = migrate6_flow
    assert_nothing_downloaded_inside_the_window(flow, replay)


def test_the_6x_migrate_primary_goes_back_to_its_standalone(migrate6_flow: Replayed) -> None:
    """Last in the module: it takes the cluster down (README "Going back to a standalone")."""
    flow, _, _ = migrate6_flow
    restore_the_standalone(flow)
