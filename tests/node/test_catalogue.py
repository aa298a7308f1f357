"""The phase catalogue: each phase's own bounds fit inside the step's outer timeout."""

from __future__ import annotations

import pytest

from scripts.cenode import catalogue
from scripts.cenode.system import DEFAULT_TIMEOUTS


@pytest.mark.parametrize("name", sorted(catalogue.PHASES))
def test_inner_budgets_add_up_to_less_than_the_outer_timeout(name: str) -> None:
    phase = catalogue.PHASES[name]
    inner = sum(DEFAULT_TIMEOUTS[key] * times for key, times in phase.budgets)
    assert inner < phase.outer_s, f"{name}: {inner} s of inner bounds do not fit in timeout {phase.outer_s}"


@pytest.mark.parametrize(
    ("name", "outer", "inner"),
    [
        ("wait", 600, 540),
        ("preflight", 600, 300),
        # + 30: the wait for the node-wide lock, in every phase that changes the node
        # the OS's updates on a new node (upgrade), one apt/dnf run, pip
        ("prepare", 3000, 1200 + 900 + 600 + 30),
        ("mount", 600, 300 + 30),
        ("bricks", 600, 180 + 120 + 30),
        ("fetch-ce", 900, 3 * 240 + 30),
        ("backup", 1800, 1700 + 30),
        ("setup", 3600, 3300 + 120 + 30),
        ("gluster-join", 600, 180 + 120 + 30),
        ("start", 1800, 1500 + 240 + 30),
        ("stop", 900, 780 + 30),
        # three rounds of MongoDB commands, seven RabbitMQ CLI runs, the lock
        ("evict", 2700, 3 * 30 + 12 * 60 + 10 * 120 + 180 + 300 + 30),  # 6.x: GlusterFS commands, the probe, the heal wait
        ("inspect", 600, 0),
        ("certs", 600, 30),
        ("verify", 600, 300),  # --wait: re-checks for timeouts.healthy
    ],
)
def test_outer_timeouts_and_inner_budgets(name: str, outer: int, inner: int) -> None:
    phase = catalogue.PHASES[name]
    assert catalogue.outer_timeout(name) == outer
    assert sum(DEFAULT_TIMEOUTS[key] * times for key, times in phase.budgets) == inner


#: after a command's own timeout the runner ends its group: SIGTERM, up to 10 s, SIGKILL, up to 5 s
ENDING_A_TIMED_OUT_COMMAND_S = 15
#: the budgets that bound one command each (the others bound waits and retry loops of short commands)
ONE_COMMAND_EACH = {"apt", "pip", "git", "backup", "setup", "start", "stop", "gluster"}


@pytest.mark.parametrize("name", sorted(catalogue.PHASES))
def test_a_phase_ends_on_its_own_bounds_with_room_to_end_its_command_before_the_outer_timeout(name: str) -> None:
    """Issue 13, rule 2: the outer ``timeout`` (SIGTERM, then ``cenode.children`` ends the groups) is the
    last resort; the phase's own budgets, plus ending the command that overran one, come first."""
    phase = catalogue.PHASES[name]
    inner = sum(DEFAULT_TIMEOUTS[key] * times for key, times in phase.budgets)
    ended = ENDING_A_TIMED_OUT_COMMAND_S * sum(times for key, times in phase.budgets if key in ONE_COMMAND_EACH)
    assert inner + ended < phase.outer_s, f"{name}: {inner} s + {ended} s to end its commands do not fit in timeout {phase.outer_s}"


def test_every_budget_key_is_a_known_timeout_and_every_timeout_bounds_some_phase() -> None:
    used = {key for phase in catalogue.PHASES.values() for key, _ in phase.budgets}
    assert used <= set(DEFAULT_TIMEOUTS)
    # the per-prompt silences are bounds inside setup's total, the peer connect one inside peers
    assert set(DEFAULT_TIMEOUTS) - used == {"setup_prompt", "setup_unknown_prompt", "peer_connect"}


def test_the_lock_wait_is_a_budget_of_exactly_the_phases_that_change_the_node() -> None:
    for name, phase in catalogue.PHASES.items():
        assert (("lock", 1) in phase.budgets) is phase.changes_node, name


def test_only_setup_has_secret_output_and_unknown_names_get_the_default() -> None:
    assert [name for name, phase in catalogue.PHASES.items() if phase.secret_output] == ["setup"]
    assert catalogue.outer_timeout("no-such-phase") == 600


def test_phases_that_run_before_node_json_is_there() -> None:
    assert sorted(name for name, phase in catalogue.PHASES.items() if not phase.needs_node) == ["verify", "wait"]


def test_the_phases_that_follow_the_ce_primary_flag() -> None:
    assert sorted(name for name, phase in catalogue.PHASES.items() if phase.runtime_role) == ["setup", "start", "stop"]
