"""Keeping the node's secrets out of every text an operator reads: the one redactor.

Owns: :class:`Redactor` (replaces each known secret, and whatever CE announces as a generated
secret, with ``***``; cuts a long text only AFTER redacting it, so a secret lying across the cut
is never written in halves) and :class:`RedactingWriter` (a streaming sink for a child's output
that holds back text until no secret can be split between two writes).

Must not touch: anything; it only transforms text. Standard library only (python 3.8+).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence

MASK = "***"


class Redactor:
    """Removes ``secrets`` (longest first) and, for each ``announced`` pattern, its group 2.

    ``announced`` patterns have two groups: what introduces a secret (kept) and the secret
    (masked), e.g. CE 6.x's ``Setting following random JWT secret - <value>``.
    """

    def __init__(self, secrets: Sequence[str], announced: Sequence[re.Pattern[str]] = ()) -> None:
        values = sorted({s for s in secrets if s}, key=len, reverse=True)
        self.max_len = max((len(s) for s in values), default=0)
        self._re = re.compile("|".join(re.escape(s) for s in values)) if values else None
        self._announced = tuple(announced)

    def __call__(self, text: str) -> str:
        if self._re is not None:
            text = self._re.sub(MASK, text)
        for pattern in self._announced:
            text = pattern.sub(lambda m: m.group(1) + MASK, text)
        return text

    def head(self, text: str, limit: int) -> str:
        """The first ``limit`` characters of the redacted text (redact, then cut)."""
        return self(text)[:limit]

    def tail(self, text: str, limit: int) -> str:
        """The last ``limit`` characters of the redacted text (redact, then cut)."""
        return self(text)[-limit:]

    def safe_cut(self, text: str, cut: int) -> int:
        """Move ``cut`` back so that no secret occurrence straddles it."""
        if self._re is None:
            return cut
        for match in self._re.finditer(text):
            if match.start() < cut < match.end():
                return match.start()
        return cut


class RedactingWriter:
    """A file-like sink for a child's output (pexpect's ``logfile_read``): writes only redacted text.

    Text is held back until a newline (secrets have none), or, for a very long line, all but
    the last ``max_len - 1`` characters (a secret starting earlier is then wholly inside).
    """

    HOLD_LIMIT = 65536

    def __init__(self, sink: Callable[[str], None], secrets: Sequence[str]) -> None:
        self.sink = sink
        self.redact = Redactor(secrets)
        self._pending = ""

    def write(self, data: str | bytes) -> None:
        if isinstance(data, bytes):
            data = data.decode("utf-8", "replace")
        self._pending += data
        text = self._pending
        cut = text.rfind("\n") + 1
        if cut == 0 and len(text) > self.HOLD_LIMIT:
            cut = len(text) - max(self.redact.max_len - 1, 0)
        cut = self.redact.safe_cut(text, cut)
        if cut > 0:
            self.sink(self.redact(text[:cut]))
            self._pending = text[cut:]

    def flush(self) -> None:
        if self._pending:
            self.sink(self.redact(self._pending))
            self._pending = ""
