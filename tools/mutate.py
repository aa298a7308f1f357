"""``make mutate MODULE=<name>``: mutation testing of one core module against the tests that cover it.

Owns: the table of core modules and the tests that cover each, running ``mutmut`` on one of them
in a scratch copy of the work tree (``.mutate/<name>/``, git-ignored, so the tree itself is never
mutated), and the raw results committed under ``docs/mutation/<name>.txt`` (kill rate, then every
surviving mutant with its diff). Not part of ``make test``: a module takes minutes to tens of minutes.

Message strings may be excluded from mutation with ``# pragma: no mutate`` on their line.

Must not touch: the work tree's sources (mutmut rewrites only the scratch copy).
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
SCRATCH = REPO / ".mutate"
RESULTS = REPO / "docs" / "mutation"


@dataclass(frozen=True)
class Target:
    """One core module and the test files that cover it."""

    sources: tuple[str, ...]
    tests: tuple[str, ...]


#: the core modules of issue 12 and the tests that cover each (one table; names are what `MODULE=` takes).
#: network, storage and nodes run against their word-for-word tests only, not tests/unit/test_aws_side.py too:
#: its twenty-odd runs of the program under mocks cost 10 s and more per mutant on a shared 2-core machine;
#: setup runs without the stand-in flows (test_standin_flow.py, test_ce6_flow.py: 15-20 s each per mutant)
#: and without test_prompts.py (it tests the prompt driver, none of setup's sources); provisioning runs against
#: test_step_details.py only: test_provisioning.py costs 6 s and more per mutant, and its module-scoped program
#: runs are tied by mutmut to the first test that used them only, so most of its tests never meet a mutant
TARGETS: dict[str, Target] = {
    "settings": Target(("components/settings.py",), ("tests/unit/test_settings.py", "tests/unit/test_stack_config.py")),
    "network": Target(("components/network.py",), ("tests/unit/test_network_rules.py",)),
    "storage": Target(("components/storage.py",), ("tests/unit/test_storage_details.py",)),
    "nodes": Target(("components/nodes.py",), ("tests/unit/test_node_details.py",)),
    "provisioning": Target(("components/provisioning.py", "components/cluster.py"), ("tests/unit/test_step_details.py",)),
    "prompts": Target(("scripts/cenode/prompts.py",), ("tests/node/test_prompts.py", "tests/node/test_setup_driver.py",
                                                  "tests/node/test_setup_phases.py", "tests/node/test_children.py")),
    "setup": Target(("scripts/cenode/phases/setup_ce.py", "scripts/cenode/phases/setup_ce6.py", "scripts/cenode/setup_due.py",
                     "scripts/cenode/setup_marker.py", "scripts/cenode/setup_inputs.py"),
                    ("tests/node/test_setup_phases.py", "tests/node/test_rerun_decision.py", "tests/node/test_staged.py",
                     "tests/node/test_ce6_units.py", "tests/node/test_setup_inputs_details.py",
                     "tests/node/test_setup_phase_details.py")),
    "mount": Target(("scripts/cenode/phases/mount.py",), ("tests/node/test_mount.py", "tests/node/test_mount_phase.py")),
    "bricks": Target(("scripts/cenode/phases/bricks.py",), ("tests/node/test_ce6_units.py", "tests/node/test_bricks.py")),
    "health": Target(("scripts/cenode/health.py",), ("tests/health",)),
    "policy": Target(("policy/rules.py",), ("tests/policy/test_policies.py", "tests/policy/test_rule_details.py")),
}

#: what the tests import or run besides the mutated sources (copied into mutmut's sandbox as they are;
#: ``ce-health`` is the launcher tests/health/test_cli.py runs)
ALSO_COPY = ("components", "scripts", "offline", "policy", "tools", "tests", "examples", "__main__.py",
             "Pulumi.yaml", "Pulumi.dev.yaml", "Pulumi.prod.yaml", "ce-health")

_STATUS = re.compile(r"^\s*(?P<name>\S+): (?P<status>.+)$")


@dataclass(frozen=True)
class Score:
    killed: int
    total: int
    survivors: tuple[str, ...]

    @property
    def rate(self) -> float:
        return 100.0 * self.killed / self.total if self.total else 0.0


def mutmut_config(target: Target) -> str:
    """The ``[tool.mutmut]`` table for one target (appended to the scratch copy's pyproject.toml)."""
    def toml_list(items: tuple[str, ...] | list[str]) -> str:
        return "[" + ", ".join(f'"{item}"' for item in items) + "]"

    also = [path for path in ALSO_COPY if (REPO / path).exists()]
    return (
        "\n[tool.mutmut]\n"
        f"source_paths = {toml_list(target.sources)}\n"
        f"pytest_add_cli_args_test_selection = {toml_list(target.tests)}\n"
        f"also_copy = {toml_list(also)}\n"
        'pytest_add_cli_args = ["-p", "no:cacheprovider", "-q", "-m", "not hosts"]\n'
        # forking straight from the stats run hangs every mutant once Pulumi's mock runtime is loaded
        'process_isolation = "forkserver"\n'
    )


def score(results_text: str) -> Score:
    """Kill rate from ``mutmut results --all true``: killed (and timeouts) over everything checked."""
    killed, total, survivors = 0, 0, []
    for line in results_text.splitlines():
        match = _STATUS.match(line)
        if not match:
            continue
        status = match["status"].strip()
        if status in {"not checked", "skipped"}:
            continue
        total += 1
        if status in {"killed", "timeout", "segfault", "caught by type check"}:
            killed += 1
        else:
            survivors.append(match["name"])
    return Score(killed, total, tuple(survivors))


def prepare_scratch(name: str, target: Target) -> Path:
    """A fresh copy of the tracked and untracked-but-not-ignored files, with the mutmut table."""
    scratch = SCRATCH / name
    shutil.rmtree(scratch, ignore_errors=True)
    scratch.mkdir(parents=True)
    files = subprocess.run(["git", "ls-files", "-co", "--exclude-standard", "-z"], cwd=REPO, check=True,
                           capture_output=True).stdout.decode().split("\0")
    for rel in filter(None, files):
        source = REPO / rel
        if source.is_file():
            (scratch / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, scratch / rel)
    with (scratch / "pyproject.toml").open("a", encoding="utf-8") as handle:
        handle.write(mutmut_config(target))
    # mutmut's sandbox (mutants/) gets this venv under the name the launchers look for (``ce-health``
    # runs ``.venv/bin/python`` next to itself, else a python3 without pymongo or mutmut)
    (scratch / "mutants" / "scripts").mkdir(parents=True)
    (scratch / "mutants" / ".venv").symlink_to(sys.prefix, target_is_directory=True)
    # the node agent run from scripts/ (``python -m cenode.health``) inherits mutmut's stats mode, which
    # reads mutmut's config from the working directory: give it one there (its values are not used)
    (scratch / "mutants" / "scripts" / "setup.cfg").write_text("[mutmut]\nsource_paths = cenode\n", encoding="utf-8")
    return scratch


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="make mutate", description=__doc__.splitlines()[0])
    parser.add_argument("module", choices=sorted(TARGETS), help="core module to mutate")
    parser.add_argument("--children", type=int, default=2, help="mutants tested at once (default %(default)s)")
    args = parser.parse_args(argv)
    target = TARGETS[args.module]
    mutmut = str(Path(sys.executable).with_name("mutmut"))
    scratch = prepare_scratch(args.module, target)
    subprocess.run([mutmut, "run", "--max-children", str(args.children)], cwd=scratch, check=False,
                   stdout=subprocess.DEVNULL)
    listing = subprocess.run([mutmut, "results", "--all", "true"], cwd=scratch, capture_output=True, text=True,
                             check=False).stdout
    result = score(listing)
    if not result.total:  # mutmut stopped before testing any mutant (e.g. the tests fail unmutated): no result to record
        print(f"{args.module}: no mutant was tested; see `mutmut run` in {scratch}", file=sys.stderr)
        return 1
    diffs = [subprocess.run([mutmut, "show", name], cwd=scratch, capture_output=True, text=True, check=False).stdout
             for name in result.survivors]
    RESULTS.mkdir(parents=True, exist_ok=True)
    summary = f"{args.module}: killed {result.killed} of {result.total} mutants ({result.rate:.0f}%)"
    (RESULTS / f"{args.module}.txt").write_text(
        f"{summary}\nsources: {', '.join(target.sources)}\ntests: {', '.join(target.tests)}\n\n"
        "## surviving mutants\n\n" + "\n".join(diffs), encoding="utf-8")
    print(summary)
    return 0


if __name__ == "__main__":
    sys.exit(main())
