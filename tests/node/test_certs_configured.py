"""The certs phase installs a UI certificate given by the stack (via root-only secrets.json) on the primary."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path

import pytest

from scripts.cenode.phases import certs
from scripts.cenode.system import Ctx

from .conftest import FakeRunner

CERT = "-----BEGIN CERTIFICATE-----\nY2VydA==\n-----END CERTIFICATE-----\n"
KEY = "-----BEGIN PRIVATE KEY-----\na2V5\n-----END PRIVATE KEY-----\n"


def with_secrets(ctx: Ctx, **extra: str) -> None:
    os.makedirs(ctx.env.config_dir, exist_ok=True)
    Path(ctx.env.config_dir, "secrets.json").write_text(json.dumps({"maintenance_password": "m", "jwt_secret": "j", **extra}))


@pytest.mark.skipif(os.geteuid() != 0, reason="CE's files are owned by uid 1001: chown needs root")
def test_configured_certificate_lands_in_the_shared_config_once(make_ctx: Callable[..., tuple[Ctx, FakeRunner]], tmp_path: Path) -> None:
    (tmp_path / "shared" / "config").mkdir(parents=True)
    (tmp_path / "ta_cloud_exchange").mkdir()
    ctx, _ = make_ctx("certs")
    with_secrets(ctx, ui_certificate=CERT, ui_certificate_key=KEY)
    first = certs.run(ctx)
    ssl = tmp_path / "shared" / "config" / "ssl_certs"
    assert first.status == "changed"
    assert (ssl / "cte_cert.crt").read_text() == CERT and (ssl / "cte_cert_key.key").read_text() == KEY
    assert (ssl / "cte_cert_key.key").stat().st_mode & 0o777 == 0o600
    assert (ssl / "cte_cert_key.key").stat().st_uid == 1001  # CE's containers run as uid 1001 (docs/ce-facts.md §2.1, §C6)
    assert certs.run(ctx).status == "unchanged"
    ctx.log.close()
    assert "a2V5" not in Path(ctx.log.path).read_text(), "the key's content reached the phase log"


def test_secondaries_and_stacks_without_a_certificate_stage_nothing(make_ctx: Callable[..., tuple[Ctx, FakeRunner]], tmp_path: Path) -> None:
    ctx, _ = make_ctx("certs", role="secondary")
    with_secrets(ctx, ui_certificate=CERT, ui_certificate_key=KEY)
    assert certs.stage_configured_certificate(ctx) == []
    primary, _ = make_ctx("certs")
    with_secrets(primary)
    assert certs.stage_configured_certificate(primary) == []
