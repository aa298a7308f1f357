"""CE 5.x: the shared folder on EFS (NFS), setup driven through its prompts, certificates copied.

Owns: the 5.x facts (ports, pins, minimums, supported OS; docs/ce-facts.md §3.1, §4) and its plan: every node
mounts the EFS folder in its preparation (leaving its token there); in the cutover the primary first
sees every node's token, then sets up and starts (the window ends: CE serves again), then each
secondary in turn sets up and starts, joining the running cluster.
Its phases: ``mount`` (phases.mount), ``certs`` (phases.certs), ``setup`` (phases.setup_ce,
answering CE's prompts); it has no GlusterFS bricks.

Must not touch: anything outside the standard library (see ``base``).
"""

from __future__ import annotations

from ..catalogue import Implementation
from ..system import setting
from .base import (
    DRAIN,
    EVICT,
    SECONDARY_SETUP,
    SECONDARY_START,
    VERIFY,
    WINDOW,
    NotNeeded,
    Plan,
    PortRange,
    ReleaseLine,
    SharedWitness,
    Stage,
    preparation,
)

CE5 = ReleaseLine(
    major=5,
    storage="efs",
    storage_phase="mount",
    cluster_ports=(
        PortRange(4369, 4369, "RabbitMQ epmd"),
        PortRange(5672, 5672, "RabbitMQ AMQP"),
        PortRange(15672, 15672, "RabbitMQ management HTTP"),
        PortRange(25672, 25672, "RabbitMQ Erlang distribution"),
        PortRange(35672, 35672, "RabbitMQ CLI distribution"),
        PortRange(27017, 27017, "MongoDB replica set"),
    ),
    python_pins=("pyyaml>=6.0.0", "python-dotenv>=0.20.0,<=1.0.0", "pymongo>=4.6.3,<=4.7.3"),
    docker_min=(25, 0, 3),
    compose_min=(2, 16, 0),
    podman_min=(3, 4, 2),
    podman_compose_min=(1, 0, 3),
    python_min=(3, 6, 0),
    setup_python="system",
    needs_avx=False,
    supported_os=(("ubuntu", "20.04"), ("ubuntu", "22.04"), ("rhel", "8"), ("rhel", "9")),
    other_os_version_warns=True,
    ubuntu_series=("jammy", "22.04"),
    default_shared_dir="/mnt/ce-ha",
    fixed_shared_dir=False,
    takes_configured_ui_certificate=True,
    backup_on_shared=True,
    extra_apt_packages=(),
    prepare_extras=(),
    phases={
        "mount": Implementation("phases.mount"),
        "bricks": NotNeeded(f"CE 5.x: shared storage is EFS ({setting('sharedDir')}), no GlusterFS bricks"),
        "certs": Implementation("phases.certs"),
        "setup": Implementation("phases.setup_ce"),
    },
    plan=Plan(
        preparation=preparation("mount"),
        # the window: the primary's stop, setup, start; a secondary's setup rewrites the shared .env
        # (HA_ENABLED=False, docs/ce-facts.md §1.4, C8) while the primary serves: its containers read
        # that file only when created (docs/ce-lifecycle.md §1.1), and nothing relies on the key
        drain=(DRAIN,),
        cutover=(WINDOW,),
        joins=(Stage((SECONDARY_SETUP, SECONDARY_START), each_node=True),),
        check=VERIFY,
        replacement=(EVICT,),
    ),
    # every node mounts EFS in its preparation, leaving its token; the primary's stop (the cutover's
    # first step) sees them all before CE goes down
    shared_witness=SharedWitness(after_mount="nobody", before_cutover="every node"),
)
