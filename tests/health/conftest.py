"""Shared fixtures for the health check's tests; everything listens on 127.0.0.1 only."""

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
if str(REPO) not in sys.path:  # the repo has no install step: make ``scripts.cenode`` importable
    sys.path.insert(0, str(REPO))

from .mockcluster import ui_server  # noqa: E402


@pytest.fixture
def ui_port() -> Iterator[int]:
    """A plain-HTTP UI answering 200 on loopback, for tests about MongoDB."""
    with ui_server() as port:
        yield port
