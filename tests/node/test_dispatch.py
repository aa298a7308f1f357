"""Every phase the CLI offers is wired to an entry function that exists (catalogue + release lines)."""

from __future__ import annotations

import argparse
import importlib

from scripts.cenode import __main__ as cli
from scripts.cenode import catalogue, lines


def _entry(module_name: str, function: str) -> object:
    return getattr(importlib.import_module(f"scripts.cenode.{module_name}"), function)


def test_every_cli_phase_has_a_real_function_or_one_per_line() -> None:
    sub = next(a for a in cli.build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    assert set(sub.choices) == set(catalogue.PHASES)
    for phase in catalogue.PHASES.values():
        if phase.implementation is catalogue.PER_LINE:
            continue
        assert callable(_entry(phase.implementation.module, phase.implementation.function)), phase.name


def test_every_per_line_phase_a_line_plans_is_implemented_by_that_line() -> None:
    per_line = {name for name, phase in catalogue.PHASES.items() if phase.implementation is catalogue.PER_LINE}
    assert per_line == {"mount", "bricks", "certs", "setup", "gluster-join"}
    for line in lines.LINES.values():
        planned = {step.phase for step in line.plan.preparation}
        planned |= {step.phase for stage in line.plan.ordered for step in stage.steps}
        assert planned <= set(catalogue.PHASES), line.name
        for name in planned & per_line:
            target = line.phases[name]
            assert isinstance(target, catalogue.Implementation), (line.name, name)
            assert callable(_entry(target.module, target.function)), (line.name, name)
        assert set(line.phases) <= per_line, line.name
