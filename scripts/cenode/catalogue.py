"""Every node-side phase in one table: name, help, CLI options, timeouts, node.json, where it lives.

Owns: the ``ce-node`` phases as data. ``ce-node``'s parser and dispatch (``__main__``), the outer
``timeout N`` the Pulumi side wraps each remote step in (``components/provisioning.py``), and the
offline plan's step commands all read this table. Each phase lists the inner budgets
(``system.DEFAULT_TIMEOUTS`` keys, times how often it may spend each) that bound its own waits;
they add up to less than the outer timeout, so a phase reports its own ERROR line instead of
being killed (tests/node/test_catalogue.py checks it). A phase that changes the node says so
(``changes_node``): ``ce-node`` runs it under the node-wide lock, whose wait is one more budget.

A phase's ``implementation`` is a module under ``cenode`` and its function, imported only when
the phase runs (some need pexpect/pymongo, installed by prepare), or ``PER_LINE``: the node's
release line names its own (``lines.ReleaseLine.phases``).

Must not touch: anything outside the standard library (the Pulumi side imports it).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Dict, Optional, Tuple  # noqa: UP035 - python 3.8 nodes

#: the Pulumi side's ``timeout N`` when a phase names none
DEFAULT_OUTER_S = 600


@dataclass(frozen=True)
class Option:
    """One CLI option of a phase; ``dest`` is also the keyword its implementation takes."""

    flag: str
    dest: str
    help: str
    kind: Optional[type] = None  # noqa: UP045 - python 3.8 nodes
    flag_only: bool = False  # a switch (store_true)
    required: bool = False
    #: options sharing a group name exclude each other
    exclusive: str = ""

    def argparse_kwargs(self) -> Dict[str, Any]:  # noqa: UP006 - python 3.8 nodes
        kwargs: Dict[str, Any] = {"dest": self.dest, "help": self.help}  # noqa: UP006
        if self.flag_only:
            kwargs["action"] = "store_true"
        else:
            kwargs.update(type=self.kind, default=None, required=self.required)
        return kwargs


@dataclass(frozen=True)
class Implementation:
    """``function`` of the module ``cenode.<module>``."""

    module: str
    function: str = "run"


#: the release line of the node names the implementation (``lines.ReleaseLine.phases``)
PER_LINE = Implementation("lines", "<per line>")


@dataclass(frozen=True)
class Phase:
    name: str
    help: str
    needs_node: bool
    implementation: Implementation
    options: Tuple[Option, ...] = ()  # noqa: UP006 - python 3.8 nodes
    #: the remote step's ``timeout N`` (seconds) on the Pulumi side
    outer_s: int = DEFAULT_OUTER_S
    #: the inner bounds it spends, as (DEFAULT_TIMEOUTS key, how many times at most)
    budgets: Tuple[Tuple[str, int], ...] = ()  # noqa: UP006 - python 3.8 nodes
    #: its output carries secrets: the remote step marks stdout/stderr secret and logs nothing
    secret_output: bool = False
    #: options after the phase are not ce-node's: they go to the implementation (verify)
    passes_extra_args: bool = False
    #: it changes the node: it runs holding the node-wide lock (``nodelock``; its wait is the
    #: ``lock`` budget)
    changes_node: bool = False
    #: it acts as the CE primary flag says (``roles.runtime_role``: ``HA_PRIMARY_NODE_IP`` in the shared
    #: .env), not as node.json's role, which only applies before the flag exists; it also takes
    #: ``ROLE_GATE`` (``--role``: act only where the node has that role, report unchanged elsewhere)
    runtime_role: bool = False

    @property
    def all_options(self) -> Tuple[Option, ...]:  # noqa: UP006 - python 3.8 nodes
        """Its own options, plus ``--role`` for a phase that acts by CE's primary flag (``ce-node``'s parser)."""
        return (*self.options, ROLE_GATE) if self.runtime_role else self.options


#: the option every ``runtime_role`` phase takes: the plan runs such a step on every node in turn and
#: only the node with that CE role acts (the role moves with CE's order of stops, docs/ce-lifecycle.md §1.2)
ROLE_GATE = Option("--role", "acting_role", "act only where this node's CE role (CE's primary flag) is ROLE; "
                   "report unchanged elsewhere", kind=str)
ROLES = ("primary", "secondary")


_CATALOGUE = (
    Phase("wait", "wait for cloud-init and package-manager locks (bounded)", needs_node=False,
          implementation=Implementation("phases.wait"),
          options=(Option("--timeout", "timeout", "seconds (default: timeouts.wait or 1200)", kind=int),),
          budgets=(("wait", 1),)),
    Phase("preflight", "check the node is fit for CE HA; changes nothing", needs_node=True,
          implementation=Implementation("phases.preflight"),
          options=(Option("--skip-peers", "skip_peers", "do not probe the other nodes' cluster ports", flag_only=True),),
          budgets=(("peers", 1),)),
    Phase("prepare", "OS updates (new nodes), packages, container engine, CE's python pins; SELinux off", needs_node=True,
          implementation=Implementation("phases.prepare"), outer_s=3000, budgets=(("upgrade", 1), ("apt", 1), ("pip", 1), ("lock", 1)),
          changes_node=True),
    Phase("mount", "mount the shared folder (5.x EFS), fstab, docker ordering, CE's shared folders", needs_node=True,
          implementation=PER_LINE, budgets=(("mount", 1), ("lock", 1)), changes_node=True),
    Phase("bricks", "6.x: the brick file system, glusterd's ports, glusterd running", needs_node=True,
          implementation=PER_LINE, budgets=(("device", 1), ("gluster", 1), ("lock", 1)), changes_node=True),
    Phase("fetch-ce", "CE's repository at the pinned tag in ce_dir", needs_node=True,
          implementation=Implementation("phases.fetch_ce"), outer_s=900, budgets=(("git", 3), ("lock", 1)), changes_node=True),
    Phase("backup", "migrate primary: tarball of ce_dir (5.x: <shared>/backups; 6.x: /var/backups/cloud-exchange-ha)",
          needs_node=True, implementation=Implementation("phases.backup"),
          options=(Option("--stopped-member", "stopped_member", "before an upgrade's window: where the upgrade is staged and CE "
                          "stopped, a tarball of ce_dir (a consistent MongoDB copy) and the shared config in "
                          "/var/backups/cloud-exchange-ha", flag_only=True),),
          outer_s=1800, budgets=(("backup", 1), ("lock", 1)), changes_node=True),
    Phase("inspect", "installed CE version and secrets (--reveal prints them as JSON, --check compares)", needs_node=True,
          implementation=Implementation("phases.inspect_ce"),
          options=(
              Option("--reveal", "reveal", "print ONE JSON line with version and secrets (mark it secret!)", flag_only=True,
                     exclusive="mode"),
              Option("--check", "check", "compare the secrets with secrets.json; fail naming the setting", flag_only=True,
                     exclusive="mode"),
          )),
    Phase("certs", "copy the standalone's UI and CA certificates into the shared config", needs_node=True,
          implementation=PER_LINE, budgets=(("lock", 1),), changes_node=True),
    Phase("setup", "run CE's ./setup (5.x: answering its prompts; 6.x: from cloudexchange.config)", needs_node=True,
          implementation=PER_LINE,
          options=(Option("--force", "force", "run setup even when it already ran with the same inputs", flag_only=True),),
          outer_s=3600, budgets=(("setup", 1), ("gluster", 1), ("lock", 1)), secret_output=True, changes_node=True,
          runtime_role=True),
    Phase("gluster-join", "6.x, on the primary: add member N's brick to CE's GlusterFS volume", needs_node=True,
          implementation=PER_LINE,
          options=(Option("--member", "member", "1-based position of the node in cluster_ips (>= 2)", kind=int, required=True),),
          budgets=(("gluster_peer", 1), ("gluster", 1), ("lock", 1)), changes_node=True),
    Phase("start", "CE's ./start, judged by the replica set", needs_node=True,
          implementation=Implementation("phases.service", "start"), outer_s=1800,
          budgets=(("start", 1), ("member", 1), ("lock", 1)), changes_node=True, runtime_role=True),
    Phase("stop", "CE's ./stop, judged by the containers left; skipped on a healthy member whose setup would change nothing",
          needs_node=True, implementation=Implementation("phases.service", "stop"),
          options=(Option("--force", "force", "stop CE even when setup would change nothing and this node is healthy", flag_only=True),),
          outer_s=900, budgets=(("stop", 1), ("lock", 1)), changes_node=True, runtime_role=True),
    Phase("evict", "on a healthy survivor: remove a dead node from MongoDB's replica set and RabbitMQ and move "
          "HA_PRIMARY_NODE_IP off it, so its replacement can join (6.x: and swap its GlusterFS brick for the new node's); "
          "refuses a live node or a set without a majority",
          needs_node=True, implementation=Implementation("phases.evict"),
          options=(Option("--address", "address", "the dead node's IP (one of cluster_ips, not this node)", kind=str,
                          required=True),
                   Option("--if-dead", "if_dead", "report unchanged, instead of refusing, when the address answers as a "
                          "healthy member (the program's step: a re-run after the node joined)", flag_only=True)),
          outer_s=2700, budgets=(("mongo", 3), ("rabbitmq", 12), ("gluster", 10), ("gluster_peer", 1), ("gluster_heal", 1),
                                 ("lock", 1)), changes_node=True),
    Phase("restore-standalone", "by hand, on the migrate primary once CE is stopped on every node: CE back to the standalone "
          "of the backup phase's tarball (the cluster's folder kept aside), the shared folder left, ./start",
          needs_node=True, implementation=Implementation("phases.restore"),
          options=(Option("--tarball", "tarball", "the backup to restore (default: this node's newest)", kind=str),),
          outer_s=4200, budgets=(("backup", 1), ("mount", 1), ("start", 1), ("member", 1), ("lock", 1)), changes_node=True),
    Phase("roll-back", "by hand, on each node once CE is stopped on every node, after a failed upgrade: CE's folder (and, on the "
          "node that was CE's primary in the window, the shared folder) back to the copy the upgrade kept before it changed "
          "them (what it replaced kept aside); CE is started afterwards with start, CE's primary first",
          needs_node=True, implementation=Implementation("phases.roll_back"),
          options=(Option("--tarball", "tarball", "the copy to restore (default: this node's newest for the upgrade to "
                          "node.json's ce_version, its window copy first)", kind=str),),
          outer_s=3600, budgets=(("backup", 1), ("lock", 1)), changes_node=True),
    Phase("verify", "cluster health (cenode.health); options after it go to the health check, e.g. --json", needs_node=False,
          implementation=Implementation("health", "main"), passes_extra_args=True, budgets=(("healthy", 1),)),
)

#: phase name -> its entry, in the order ``ce-node --help`` lists them
PHASES: Dict[str, Phase] = {phase.name: phase for phase in _CATALOGUE}  # noqa: UP006 - python 3.8 nodes


def outer_timeout(name: str) -> int:
    """The remote step's ``timeout N`` for a phase (the default for names outside the table)."""
    phase = PHASES.get(name)
    return phase.outer_s if phase else DEFAULT_OUTER_S
