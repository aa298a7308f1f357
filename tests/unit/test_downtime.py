"""bench/downtime.py: CE downtime on a node from polled (time, mongod pid) samples."""

from __future__ import annotations

import pytest

from bench.downtime import down_intervals, seconds_down


def test_a_node_always_up_with_one_pid_was_never_down() -> None:
    samples = [(0.0, 411), (0.5, 411), (1.0, 411), (1.5, 411)]
    assert down_intervals(samples) == []
    assert seconds_down(samples) == 0.0


def test_no_samples_is_no_downtime() -> None:
    assert seconds_down([]) == 0.0


def test_down_from_the_first_sample_without_a_pid_to_the_next_with_one() -> None:
    samples = [(10.0, 411), (10.5, None), (11.0, None), (11.5, None), (12.0, 512), (12.5, 512)]
    assert down_intervals(samples) == [(10.5, 12.0)]
    assert seconds_down(samples) == pytest.approx(1.5)


def test_two_outages_add_up() -> None:
    samples = [(0.0, 7), (1.0, None), (2.0, 7), (3.0, 7), (4.0, None), (4.5, None), (6.0, 8)]
    assert down_intervals(samples) == [(1.0, 2.0), (4.0, 6.0)]
    assert seconds_down(samples) == pytest.approx(3.0)


def test_a_node_down_at_the_end_counts_to_the_last_sample() -> None:
    samples = [(0.0, 7), (0.5, 7), (1.0, None), (3.25, None)]
    assert down_intervals(samples) == [(1.0, 3.25)]
    assert seconds_down(samples) == pytest.approx(2.25)


def test_a_node_not_yet_up_is_not_down() -> None:
    """A node a migrate is still building: no pid until its CE first starts; only later outages count."""
    samples = [(0.0, None), (5.0, None), (9.0, 300), (9.5, None), (10.0, 300)]
    assert down_intervals(samples) == [(9.5, 10.0)]
    assert seconds_down([(0.0, None), (5.0, None), (9.0, 300)]) == 0.0


def test_a_restart_between_two_polls_counts_the_gap_between_them() -> None:
    samples = [(0.0, 411), (0.5, 411), (1.25, 900), (1.75, 900)]
    assert down_intervals(samples) == [(0.5, 1.25)]
    assert seconds_down(samples) == pytest.approx(0.75)


def test_a_restart_seen_down_is_counted_once() -> None:
    samples = [(0.0, 411), (0.5, None), (1.0, 900), (1.5, 900)]
    assert down_intervals(samples) == [(0.5, 1.0)]
