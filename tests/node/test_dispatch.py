"""Every phase the CLI offers is wired to an entry function that exists (the dispatch table)."""

from __future__ import annotations

import argparse
import importlib

from scripts.cenode import __main__ as cli


def test_every_cli_phase_but_verify_has_a_dispatch_entry_with_a_real_function() -> None:
    assert set(cli.DISPATCH) == set(cli.PHASES) - {"verify"}
    options = argparse.Namespace(timeout=1, skip_peers=False, member=2, reveal=False, check=False, force=False)
    for phase, (module_name, function, take) in cli.DISPATCH.items():
        module = importlib.import_module(f"scripts.cenode.phases.{module_name}")
        assert callable(getattr(module, function)), phase
        assert isinstance(take(options), dict), phase
