"""Fixtures for tests on real booted hosts (see tests/hosts/lab and docs/test-hosts.md).

``lab``: one Lab (3 hosts ce-1..3, apt mirror, pip index, shared folder) for the whole session.
``fresh_host``: a host booted for one test and removed after it (for tests that change a host).
Every test under tests/hosts gets the ``hosts`` marker: ``pytest -m "not hosts"`` leaves them out.
Without root or the tools the lab is skipped with the reason, except in CI (CI=true): there it fails.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.hosts.lab import Host, Lab, LabConfig, missing_prerequisites, reap_stale_labs

HERE = Path(__file__).resolve().parent
_fresh_names = itertools.count(1)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "hosts: needs root and the booted test hosts (systemd-nspawn); slow")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if HERE in Path(str(item.path)).resolve().parents:
            item.add_marker(pytest.mark.hosts)


def _unavailable(reason: str) -> None:
    msg = f"real-host lab unavailable: {reason} (run as root after `bash .ci/hosts-deps.sh`)"
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(msg, pytrace=False)
    pytest.skip(msg)


@pytest.fixture(scope="session")
def lab() -> Iterator[Lab]:
    why = missing_prerequisites()
    if why:
        _unavailable("; ".join(why))
    reap_stale_labs()
    the_lab = Lab(LabConfig())
    the_lab.start()  # tears itself down if the start fails
    try:
        yield the_lab
    finally:
        the_lab.teardown()


@pytest.fixture
def fresh_host(lab: Lab) -> Iterator[Host]:
    """A newly booted host (name ``fresh-N``, next free address) that is removed after the test."""
    host = lab.add_host(f"fresh-{next(_fresh_names)}")
    try:
        yield host
    finally:
        lab.remove_host(host.name)
