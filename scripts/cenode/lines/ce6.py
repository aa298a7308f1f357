"""CE 6.x: the shared folder on CE's GlusterFS, setup driven by ``cloudexchange.config``.

Owns: the 6.x facts (ports, pins, minimums, supported OS, the GlusterFS layout; docs/ce-facts.md §1.7-§1.9,
2.2, 3.2, 4) and its plan: every node readies its brick file system and glusterd in its
preparation; in the cutover the primary sets up (creating the volume) and starts (the window
ends: CE serves again), then for each further member the primary adds its brick (``gluster-join``)
before the member's own setup and start.
Its phases: ``bricks`` (phases.bricks), ``certs`` (phases.certs_ce6), ``setup``
(phases.setup_ce6), ``gluster-join`` (phases.gluster_join); there is no NFS folder to mount.

Must not touch: anything outside the standard library (see ``base``).
"""

from __future__ import annotations

from ..catalogue import Implementation
from .base import (
    DRAIN,
    EVICT,
    JOIN_PREFIX,
    SECONDARY_SETUP,
    SECONDARY_START,
    VERIFY,
    WINDOW,
    GlusterFacts,
    NotNeeded,
    Plan,
    PortRange,
    ReleaseLine,
    SharedWitness,
    Stage,
    Step,
    preparation,
)

#: 6.x cluster ports that other 6.x facts refer to (docs/ce-facts.md §3.2): defined once, used in the table below
GLUSTERD_PORTS = PortRange(24007, 24007, "glusterd")
GLUSTER_BRICK_PORTS = PortRange(24009, 24029, "GlusterFS bricks")
CE6_MANAGEMENT_PORTS = PortRange(8000, 8000, "CE management server (mTLS)")
CE6_GLUSTER = GlusterFacts(volume="CloudExchange", base_dir="/opt/shared", glusterd=GLUSTERD_PORTS, bricks=GLUSTER_BRICK_PORTS)

#: the primary adds member N's brick to the volume before member N's own setup (docs/ce-facts.md §1.9 B.2);
#: add-brick is an online change of a mounted volume, so it runs after the window, while CE serves
JOIN = Step("gluster-join", name=JOIN_PREFIX + "brick-{node}", args="--member {member}", revisions=("cutover",),
            on_primary=True)

CE6 = ReleaseLine(
    major=6,
    storage="glusterfs",
    storage_phase="bricks",
    cluster_ports=(
        PortRange(4369, 4369, "RabbitMQ epmd"),
        PortRange(5671, 5671, "RabbitMQ AMQPS"),
        PortRange(15671, 15671, "RabbitMQ management HTTPS"),
        PortRange(25672, 25672, "RabbitMQ Erlang distribution (TLS)"),
        PortRange(35672, 35672, "RabbitMQ CLI distribution"),
        PortRange(27017, 27017, "MongoDB replica set"),
        GLUSTERD_PORTS,
        GLUSTER_BRICK_PORTS,
        CE6_MANAGEMENT_PORTS,
    ),
    python_pins=("pyyaml>=6.0.0", "python-dotenv>=0.20.0,<=1.0.0", "pymongo>=4.6.3,<=4.7.3"),
    docker_min=(28, 4, 0),
    compose_min=(2, 39, 4),
    podman_min=(4, 9, 0),
    podman_compose_min=(1, 5, 0),
    python_min=(3, 11, 0),
    setup_python="ce-venv",
    needs_avx=True,
    supported_os=(("ubuntu", "22.04"), ("ubuntu", "24.04"), ("rhel", "9.5")),
    other_os_version_warns=False,
    ubuntu_series=("noble", "24.04"),
    default_shared_dir=CE6_GLUSTER.mount_dir,
    fixed_shared_dir=True,
    takes_configured_ui_certificate=False,
    backup_on_shared=False,
    extra_apt_packages=("python3-venv",),
    prepare_extras=("python", "glusterfs"),
    phases={
        "mount": NotNeeded("CE 6.x: shared storage is CE's GlusterFS, nothing to mount"),
        "bricks": Implementation("phases.bricks"),
        "certs": Implementation("phases.certs_ce6"),
        "setup": Implementation("phases.setup_ce6"),
        "gluster-join": Implementation("phases.gluster_join"),
    },
    plan=Plan(
        preparation=preparation("bricks"),
        drain=(DRAIN,),
        cutover=(WINDOW,),
        joins=(Stage((JOIN, SECONDARY_SETUP, SECONDARY_START), each_node=True),),
        check=VERIFY,
        replacement=(EVICT,),
    ),
    # the volume exists only after the primary's setup: the primary leaves its token then, and each
    # secondary, right after it mounted the volume in its own setup, must see it
    shared_witness=SharedWitness(after_mount="primary", before_cutover="nobody"),
    gluster=CE6_GLUSTER,
    management_port=CE6_MANAGEMENT_PORTS.from_port,
)
