"""The one redactor: secrets are removed before any text is cut, so a secret never shows in halves."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from scripts.cenode import nodeconfig
from scripts.cenode.redaction import Redactor
from scripts.cenode.system import PhaseLog

SECRET = "Jwt0123456789abcdefXYZ"  # 22 characters
FIRST_HALF, SECOND_HALF = SECRET[:11], SECRET[11:]


def test_head_redacts_before_cutting_a_secret_that_straddles_the_cut() -> None:
    text = "a" * 190 + SECRET + "b" * 50  # the cut at 200 falls inside the secret
    shown = Redactor([SECRET]).head(text, 200)
    assert FIRST_HALF not in shown and shown == "a" * 190 + "***" + "b" * 7


def test_tail_redacts_before_cutting_a_secret_that_straddles_the_cut() -> None:
    text = "a" * 50 + SECRET + "b" * 190  # the last 200 characters start inside the secret
    shown = Redactor([SECRET]).tail(text, 200)
    assert SECOND_HALF not in shown and shown == "a" * 7 + "***" + "b" * 190


def test_announced_secrets_keep_their_introduction() -> None:
    redact = Redactor([], announced=(re.compile(r"(password - )(\S+)"),))
    assert redact("new password - hunter22 done") == "new password - *** done"


def test_phase_log_clips_a_long_output_only_after_redacting_it(tmp_path: Path) -> None:
    keep = 200_000  # characters of a command's output kept in the log
    text = "x" * 10 + SECRET + "y" * (keep - 11)  # the clip point lies after the secret's 11th character
    log = PhaseLog(str(tmp_path), "setup")
    log.output("stdout", text, Redactor([SECRET]))
    log.close()
    written = (tmp_path / "setup.log").read_text()
    assert FIRST_HALF not in written and SECOND_HALF not in written
    assert "  stdout| " in written and "clipped" in written


def test_phase_log_writes_short_output_whole_and_redacted(tmp_path: Path) -> None:
    log = PhaseLog(str(tmp_path), "setup")
    log.output("stderr", f"one\nkey {SECRET}\n", Redactor([SECRET]))
    log.output("stdout", "   \n")  # blank output is left out
    log.close()
    written = (tmp_path / "setup.log").read_text()
    assert "  stderr| one\n  stderr| key ***\n" in written and "stdout|" not in written


# ----------------------------------------------------------------------------- secrets.json schema


def test_secrets_document_round_trips_and_leaves_empty_certificates_out(tmp_path: Path) -> None:
    plain = nodeconfig.NodeSecrets(maintenance_password="Mp#1", jwt_secret="Jwt1")
    assert json.loads(plain.to_json()) == {"maintenance_password": "Mp#1", "jwt_secret": "Jwt1"}
    full = nodeconfig.NodeSecrets("Mp#1", "Jwt1", "CERT", "KEY")
    (tmp_path / "secrets.json").write_text(full.to_json())
    assert nodeconfig.load_secrets(str(tmp_path)) == full
    assert full.secret_values() == ["Mp#1", "Jwt1", "KEY"]


def test_secrets_file_is_checked_without_quoting_it(tmp_path: Path) -> None:
    path = tmp_path / "secrets.json"
    path.write_text(json.dumps({"maintenance_password": "Mp#1", "jwt_secrte": "typo-secret"}))
    with pytest.raises(ValueError, match="jwt_secrte") as unknown:
        nodeconfig.read_secrets(str(path))
    assert "typo-secret" not in str(unknown.value)
    path.write_text(json.dumps({"maintenance_password": 1234}))
    with pytest.raises(TypeError, match="maintenance_password"):
        nodeconfig.read_secrets(str(path))
    assert nodeconfig.load_secrets(str(tmp_path / "nowhere")) == nodeconfig.NodeSecrets()


def test_forbidden_characters_are_what_ce_rejects() -> None:
    assert set(nodeconfig.FORBIDDEN_IN_PASSWORD) == {"\\", "/", "'", '"', " "}
    assert set(nodeconfig.FORBIDDEN_IN_JWT) == {"\\", "/", " ", "'", '"', "?", "&", "\t"}
