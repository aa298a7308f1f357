"""A check's verdict and the error that reports several failed checks, one line each.

Owns: :class:`Finding` (ok / warn / fail, what was found, how to fix it, and whether
``allow_undersized`` may lower it to a warning) and :class:`PreflightFailed`, the
:class:`~cenode.system.PhaseError` of a phase that checked several things (``preflight``,
``inspect --check``) and prints every failure on its own ERROR line.

Must not touch: anything; checks that produce findings live with the phases that make them.
"""

from __future__ import annotations

from dataclasses import dataclass

from .system import PhaseError


@dataclass
class Finding:
    level: str  # ok | warn | fail
    what: str
    fix: str = ""
    kind: str = ""  # "size" / "os": what allow_undersized may turn into a warning

    def line(self) -> str:
        return f"{self.what} - fix: {self.fix}" if self.fix else self.what


class PreflightFailed(PhaseError):
    """Several failures, one line each."""

    def __init__(self, failures: list[Finding]) -> None:
        super().__init__(failures[0].what, failures[0].fix)
        self.failures = failures

    def lines(self, phase: str) -> list[str]:
        return [PhaseError(f.what, f.fix or "see the log").line(phase) for f in self.failures]
