"""What a CE release line is: its facts and its ordered plan, as data (one value per line).

Owns: the ``ReleaseLine`` shape (ports, pins, minimums, supported OS, Ubuntu series, shared
folder, storage kind, the node-side implementation of each per-line phase, and the plan: the
preparation steps every node runs and the cutover stages), ``PortRange``, ``GlusterFacts`` and
the ports every line serves to people (SSH, NFS).

Must not touch: anything outside the standard library, and the per-line implementation modules
themselves (they need pexpect and friends, installed by ``prepare``): a line names them as
``Implementation("phases.setup_ce")`` and the node agent imports them when the phase runs. The Pulumi
program, the policy pack and the docs read this module too.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Mapping, Tuple, Union  # noqa: UP035 - keeps the module importable on python 3.8 nodes

from ..catalogue import Implementation
from ..release import Version

#: ports every node serves to people, not to peers
NFS_PORT = 2049
SSH_PORT = 22


@dataclass(frozen=True)
class PortRange:
    """One cluster port rule: TCP from_port..to_port, and why CE needs it."""

    from_port: int
    to_port: int
    purpose: str

    @property
    def label(self) -> str:
        if self.from_port == self.to_port:
            return str(self.from_port)
        return f"{self.from_port}-{self.to_port}"


@dataclass(frozen=True)
class GlusterFacts:
    """CE 6.x's GlusterFS layout (docs/ce-facts.md §1.8, §1.9 B, §2.2): fixed by CE under ``/opt/shared``."""

    volume: str
    #: CE's fixed base (``is_strict_pathlike`` rejects anything not under /opt/, docs/ce-facts.md §2.2)
    base_dir: str
    glusterd: PortRange
    bricks: PortRange
    #: where the node's brick EBS volume is attached (the Pulumi side attaches it there)
    brick_device: str = "/dev/sdf"
    glusterd_vol: str = "/etc/glusterfs/glusterd.vol"

    @property
    def brick_fs_dir(self) -> str:
        """Mount point of the dedicated brick file system (docs/ce-facts.md §2.2: "give /opt/shared/gluster an EBS volume")."""
        return f"{self.base_dir}/gluster"

    @property
    def brick_dir(self) -> str:
        return f"{self.brick_fs_dir}/bricks/1/brick"

    @property
    def mount_dir(self) -> str:
        """The GlusterFS client mount and CE's HA folder (``HA_NFS_DATA_DIRECTORY``)."""
        return f"{self.base_dir}/data"

    @property
    def config_dir(self) -> str:
        """CE's shared config: ``.env``, ``.env.keys``, certificates (docs/ce-facts.md §2.2, §8)."""
        return f"{self.mount_dir}/config"


# ---- how the node agent reaches a line's own code ---------------------------------------------


@dataclass(frozen=True)
class NotNeeded:
    """A per-line phase this line does without: the phase answers ``unchanged`` with ``why``."""

    why: str


PhaseTarget = Union[Implementation, NotNeeded]  # noqa: UP007 - evaluated at run time on python 3.8 nodes


# ---- every node sees one shared folder ------------------------------------------------------


@dataclass(frozen=True)
class SharedWitness:
    """How a line's nodes prove they see the same shared folder (Netskope's HA step "mount the shared
    folder on every node and verify it"): each node leaves a token in the folder right after it has
    it mounted (``cenode.shared_tokens``); this says whose tokens are looked for, and when."""

    #: whose token a node must also see right after it mounted the folder ("primary": the folder
    #: only exists once the primary's setup made it, so each further node checks it reaches that one)
    after_mount: Literal["nobody", "primary"]
    #: whose tokens the primary must see before the cutover stops CE ("every node": each node
    #: mounted the folder in its preparation, before the cutover)
    before_cutover: Literal["nobody", "every node"]


# ---- the plan, as data -----------------------------------------------------------------------

#: what makes a step run again: the node's inputs (bundle + node.json), the cutover's inputs
#: (every node's address and the settings setup consumes), a new bundle, (``replaced``, a
#: replacement step) a new instance behind the node it is about, or (``members``) a new instance
#: behind any node the program created
Revision = Literal["node", "cutover", "bundle", "replaced", "members"]
#: which nodes run a preparation step: every node, the adopted primary (migrate), or the adopted
#: primary when ``backupTarball`` is on
Only = Literal["every", "adopted", "adopted-tarball"]


@dataclass(frozen=True)
class Step:
    """One remote step: ``ce-node <phase> <args>``, named ``<node>-steps-<name>``.

    In ``name`` ``{node}`` stands for the member's node name; in ``args`` ``{member}`` for its
    1-based position in the cutover order. A replacement step is about one node (``{node}`` in its
    name, ``{address}`` in its args) and runs on a survivor.
    """

    phase: str
    name: str = ""
    args: str = ""
    revisions: Tuple[Revision, ...] = ("node",)  # noqa: UP006 - python 3.8 nodes
    #: preparation: which nodes run it
    only: Only = "every"
    #: preparation: also waits for the storage the line's Pulumi side declares for the node
    after_storage: bool = False
    #: a secondary's join: runs on the primary for the member instead of on the member (never for member 1,
    #: the primary itself)
    on_primary: bool = False

    @property
    def step_name(self) -> str:
        return self.name or self.phase


@dataclass(frozen=True)
class Stage:
    """Steps in order: once on node 1, or for each node in turn (members 1..N: steps that act only where CE's
    primary role, found at run time, is what their ``--role`` names, and report unchanged elsewhere)."""

    steps: Tuple[Step, ...]  # noqa: UP006 - python 3.8 nodes
    each_node: bool = False


@dataclass(frozen=True)
class Plan:
    """A line's order of work: every node prepares in parallel, then (for a replaced node) a survivor
    evicts its old self, then the cutover stages one at a time (the only window in which CE is
    down: the CE primary's stop, setup and start), then each secondary joins the cluster that
    serves again, one at a time, then the primary checks the cluster."""

    preparation: Tuple[Step, ...]  # noqa: UP006 - python 3.8 nodes
    #: before the window, while CE serves from its primary: every other node whose setup is due stops
    #: (CE's order: the secondaries first, the primary role's holder last: docs/ce-lifecycle.md §1.2
    #: and docs/ce-lifecycle.md §2)
    drain: Tuple[Stage, ...]  # noqa: UP006 - python 3.8 nodes
    cutover: Tuple[Stage, ...]  # noqa: UP006 - python 3.8 nodes
    #: after the window, while CE serves from the primary: each secondary's setup and start
    joins: Tuple[Stage, ...]  # noqa: UP006 - python 3.8 nodes
    check: Stage
    #: after the preparation, before the cutover: for each node the program can replace (a new
    #: node), on a survivor, re-run only when that node's instance is replaced
    replacement: Tuple[Step, ...] = ()  # noqa: UP006 - python 3.8 nodes

    @property
    def window_phases(self) -> frozenset[str]:
        """The phases that run in the cutover window."""
        return frozenset(step.phase for stage in self.cutover for step in stage.steps)

    @property
    def ordered(self) -> Tuple[Stage, ...]:  # noqa: UP006 - python 3.8 nodes
        """Every stage after the preparation, in the order it runs: the drain, the window, the joins, the check."""
        return (*self.drain, *self.cutover, *self.joins, self.check)


# ---- the line ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class ReleaseLine:
    """Everything that depends on the CE major version."""

    major: int
    #: the shared storage kind; the Pulumi side keys its per-line AWS resources on it
    storage: Literal["efs", "glusterfs"]
    #: the preparation phase that readies the shared storage on a node
    storage_phase: str
    #: node <-> node TCP ports (docs/ce-facts.md §3.1 / §3.2); the UI port and NFS are separate rules.
    cluster_ports: Tuple[PortRange, ...]  # noqa: UP006 - python 3.8 nodes
    #: pip requirement strings CE's HA setup checks for (docs/ce-facts.md §4).
    python_pins: Tuple[str, ...]  # noqa: UP006 - python 3.8 nodes
    docker_min: Version
    compose_min: Version
    podman_min: Version
    podman_compose_min: Version
    python_min: Version
    #: which python CE's setup runs: the system python3 (5.x, which checks the pins there with
    #: pkg_resources) or its own venv from an interpreter >= python_min (6.x, docs/ce-facts.md §1.7, §4)
    setup_python: Literal["system", "ce-venv"]
    needs_avx: bool
    #: (os id, minimum version) CE's setup accepts without an OS failure (docs/ce-facts.md §4).
    supported_os: Tuple[Tuple[str, str], ...]  # noqa: UP006 - python 3.8 nodes
    #: another version of a supported OS is only a warning (5.x) instead of a failure (6.x)
    other_os_version_warns: bool
    #: Ubuntu LTS series (name, version) new nodes are built from.
    ubuntu_series: Tuple[str, str]  # noqa: UP006 - python 3.8 nodes
    #: path of the shared folder on every node; fixed for 6.x (docs/ce-facts.md §2.2), default for 5.x.
    default_shared_dir: str
    #: CE fixes the shared folder (``sharedDir`` must stay unset or equal the default)
    fixed_shared_dir: bool
    #: the stack's uiCertificateFile can be installed by the certs phase
    takes_configured_ui_certificate: bool
    #: where the migrate primary's tarball goes: the shared folder (5.x, EFS exists before the
    #: cutover) or the node's own disk (6.x: the volume only exists after CE's setup)
    backup_on_shared: bool
    #: Debian packages ``prepare`` installs besides the common ones
    extra_apt_packages: Tuple[str, ...]  # noqa: UP006 - python 3.8 nodes
    #: what ``prepare`` sets up besides the common steps, in order (names its steps know)
    prepare_extras: Tuple[str, ...]  # noqa: UP006 - python 3.8 nodes
    #: the per-line phases: phase -> its implementation here, or why this line needs none
    phases: Mapping[str, PhaseTarget]
    plan: Plan
    #: whose shared-folder tokens are checked where (``cenode.shared_tokens``)
    shared_witness: SharedWitness
    #: 6.x: CE's GlusterFS facts (None on 5.x)
    gluster: GlusterFacts | None = None
    #: 6.x: CE's management server port (``CE_MANAGEMENT_PORT``, docs/ce-facts.md §1.7, §3.2)
    management_port: int | None = None

    @property
    def name(self) -> str:
        """``5.x``: how people and outputs call the line."""
        return f"{self.major}.x"

    def gluster_layout(self) -> GlusterFacts:
        """CE's GlusterFS layout; LookupError on a line whose shared storage is not GlusterFS."""
        if self.gluster is None:
            raise LookupError(f"CE {self.name} has no GlusterFS (its shared folder is {self.storage.upper()})")
        return self.gluster


# ---- what every line shares -------------------------------------------------------------------

#: the common head of every node's preparation
PREPARE_HEAD = (
    Step("wait"),
    Step("preflight"),
    Step("prepare"),
    # after prepare, which installs the decryption it needs; long before the cutover
    Step("inspect", name="inspect-check", args="--check", only="adopted"),
)


def preparation(storage_phase: str) -> tuple[Step, ...]:
    """Every node: wait, preflight, prepare, (adopted) inspect, the storage phase, (adopted) backup, fetch, certs."""
    return (
        *PREPARE_HEAD,
        Step(storage_phase, after_storage=True),
        Step("backup", only="adopted-tarball", revisions=("cutover",)),
        Step("fetch-ce"),
        Step("certs"),
    )


#: the prefix of every step name inside the window (CE is down only while these run)
WINDOW_PREFIX = "cutover-"
#: the prefix of a secondary's steps after the window (CE serves from the primary meanwhile)
JOIN_PREFIX = "join-"
#: the prefix of a secondary's stop before the window (CE serves from the primary meanwhile)
DRAIN_PREFIX = "drain-"
#: where a node's CE role is found at run time (``roles.runtime_role``: CE's primary flag in the shared .env)
AS_PRIMARY = "--role primary"
AS_SECONDARY = "--role secondary"
#: before the window, each node that is not CE's primary and whose setup is due stops (an upgrade, changed
#: setup inputs): ``./stop`` removes it from the replica set while the primary keeps serving (docs/ce-lifecycle.md §1.2,
#: docs/ce-lifecycle.md §2); at a first deployment nothing runs there yet and every node reports unchanged
DRAIN = Stage((
    Step("stop", name=f"{DRAIN_PREFIX}stop", args=AS_SECONDARY, revisions=("cutover",)),
    # ... and, where an upgrade is staged, keeps a copy of its stopped member: consistent MongoDB files (docs/ce-lifecycle.md §8)
    Step("backup", name=f"{DRAIN_PREFIX}backup", args="--stopped-member", revisions=("cutover",)),
), each_node=True)
#: the window, on the node that holds CE's primary role (node 1 at a first deployment; found at run time
#: later, as the role moves with the order of stops: docs/ce-lifecycle.md §1.2): its stop, setup and start;
#: ``./start`` initiates the replica set with itself as the only member (docs/ce-lifecycle.md §7 step 5),
#: so CE serves again before any secondary has run setup. Every other node runs the same steps and
#: reports unchanged (not CE's primary), after the holder's, so they are never inside the window.
WINDOW = Stage((
    Step("stop", name=f"{WINDOW_PREFIX}stop", args=AS_PRIMARY, revisions=("cutover",)),
    Step("setup", name=f"{WINDOW_PREFIX}setup", args=AS_PRIMARY, revisions=("cutover",)),
    Step("start", name=f"{WINDOW_PREFIX}start", args=AS_PRIMARY, revisions=("cutover",)),
), each_node=True)
#: each secondary, one at a time while CE serves: its setup (which reads the shared ``.env`` the
#: primary's setup wrote, docs/ce-lifecycle.md §1.3) and its start, which joins the running replica set
#: and RabbitMQ (docs/ce-lifecycle.md §7 step 6; one at a time: each join is a read-modify-reconfig)
SECONDARY_SETUP = Step("setup", name=f"{JOIN_PREFIX}setup", args=AS_SECONDARY, revisions=("cutover",))
SECONDARY_START = Step("start", name=f"{JOIN_PREFIX}start", args=AS_SECONDARY, revisions=("cutover",))
#: a replaced node's dead predecessor leaves MongoDB and RabbitMQ, and the CE primary flag, before the
#: new node's setup and start join it (docs/ce-lifecycle.md §5.1, §5.2 steps 1-3)
#: ``--if-dead``: the step also re-runs when its connection changes (a rotated key, a new bastion), by
#: then with the node alive and joined: nothing to evict, not a refusal
EVICT = Step("evict", name="evict-{node}", args="--address {address} --if-dead", revisions=("replaced",))
#: and the primary checks the cluster (again whenever the bundle changes, and after any node's replacement: the new
#: member's MongoDB, RabbitMQ and, 6.x, GlusterFS brick, docs/ce-lifecycle.md §5)
VERIFY = Stage((Step("verify", args="--json --insecure-ui --wait", revisions=("cutover", "bundle", "members")),))
