"""What CE's setup is given on either release line: the answers and the environment it runs in.

Owns: :func:`answers_for` (node.json + the root-only secrets.json as :class:`cenode.prompts.Answers`;
5.x types them at setup's prompts, 6.x writes them to ``cloudexchange.config``; a missing secrets.json
stops setup with one line naming the file, as the stack writes it before any phase) and
:func:`child_env`, setup's plain root environment (nothing secret, no PYTHONPATH of ours), which
6.x extends with its proxy and pip mirror.

Must not touch: anything (reads secrets.json only).
"""

from __future__ import annotations

import os

from .nodeconfig import SECRETS_FILE, load_secrets
from .prompts import Answers
from .system import Ctx, PhaseError


def answers_for(ctx: Ctx) -> Answers:
    cfg = ctx.cfg
    path = os.path.join(ctx.env.config_dir, SECRETS_FILE)
    if not os.path.exists(path):
        raise PhaseError(
            f"{path} is missing: the stack's secrets step has not run on this node", "run pulumi up (it writes secrets.json before any phase)"
        )
    wanted = load_secrets(ctx.env.config_dir)
    return Answers(
        role=cfg.role,
        tenant_url=cfg.tenant_url,
        shared_dir=cfg.shared_dir,
        cluster_ips=list(cfg.cluster_ips),
        node_ip=cfg.node_ip,
        ui_protocol=cfg.ui_protocol,
        ui_port=cfg.ui_port,
        tls12=cfg.tls12,
        proxy_url=cfg.proxy_url,
        jwt_secret=wanted.jwt_secret,
        maintenance_password=wanted.maintenance_password,
    )


def child_env() -> dict[str, str]:
    """setup's environment: a plain root environment, nothing secret, no PYTHONPATH of ours."""
    return {
        "PATH": os.environ.get("PATH", "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"),
        "HOME": "/root",
        "LANG": "C.UTF-8",
        "LC_ALL": "C.UTF-8",
        "TERM": "dumb",
        "PYTHONUNBUFFERED": "1",
    }
