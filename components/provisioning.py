"""The remote steps on one node: reach it, ship the bundle, hand it its settings, run phases.

Owns: the SSH connection (dial retries bounded to about ten minutes, long enough for an instance
to boot, optional bastion), each step's custom timeouts (the phase's outer ``timeout`` plus that
dial budget, so an unreachable node ends ``pulumi up`` in bounded time), the first "booted"
command every other step on the node waits for (its own failure names the node and its address),
copying and installing the
``scripts/`` bundle, writing ``node.json`` (plain) and ``secrets.json`` (root-only, from stdin,
logging off, outputs secret), and one ``remote.Command`` per phase run
(``sudo /opt/cloud-exchange-ha/ce-node <phase>``).

Must not touch: the order between nodes and phases (``cluster.py`` decides it), and secrets in any
command string: they travel only on stdin of the secrets step.
Every command has ``add_previous_output_in_env`` off; commands on new instances are
``deleted_with`` them; no command has a ``delete`` script, so nothing destructive ever runs on
destroy (least of all on the adopted primary).
A new node keeps its address when its instance is replaced (``nodes.py``), so the instance's
identity (its id) is a trigger of every step on that node and the first step waits for the
instance: a replacement VM runs all of its node's steps again, a re-run with the same instance none.
A step about another node (``evict`` on a survivor) takes that node's instance id instead of its own.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from pathlib import Path

import pulumi
import pulumi_command as command

from components import bundle as node_bundle
from components.args import StepsArgs
from scripts.cenode import catalogue
from scripts.cenode.nodeconfig import CONFIG_DIR, NODE_FILE, SECRETS_FILE, NodeSecrets

#: how long one phase may run before the step fails (the phases bound their own waits inside it;
#: both come from the phase catalogue, scripts/cenode/catalogue.py)
PHASE_TIMEOUT_S = {name: phase.outer_s for name, phase in catalogue.PHASES.items()}
DEFAULT_PHASE_TIMEOUT_S = catalogue.DEFAULT_OUTER_S
SECRET_OUTPUTS = ["stdout", "stderr"]

#: SSH dialing, to the node and to the bastion alike: each attempt waits at most PER_DIAL_TIMEOUT_S
#: for the TCP connection, and pulumi-command pauses between attempts with a back-off that tops out
#: at RETRY_PAUSE_MAX_S. With ``dial_error_limit`` = DIAL_ERROR_LIMIT it gives up at the attempt after
#: that many failures ("after 30 failed attempts"), so dialing lasts at most DIAL_BUDGET_S: about ten
#: minutes, where a booting instance answers within two or three.
PER_DIAL_TIMEOUT_S = 15
RETRY_PAUSE_MAX_S = 5
DIAL_ERROR_LIMIT = 30
DIAL_BUDGET_S = (DIAL_ERROR_LIMIT + 1) * PER_DIAL_TIMEOUT_S + DIAL_ERROR_LIMIT * RETRY_PAUSE_MAX_S
#: once connected: what a step that is not a phase (probe, copy, install, config) may take, and the
#: slack a phase's step gets over its outer ``timeout`` (sudo, SSH session set-up and teardown)
PLAIN_STEP_S = 300
SESSION_SLACK_S = 60


def connection(args: StepsArgs, host: pulumi.Input[str]) -> command.remote.ConnectionArgs:
    """SSH to a node as the configured user; retry while the instance boots, for DIAL_BUDGET_S at most."""
    key = pulumi.Output.secret(args.ssh_private_key.get_secret_value())
    proxy = None
    if args.bastion_host:
        proxy = command.remote.ProxyConnectionArgs(
            host=args.bastion_host,
            user=args.bastion_user,
            private_key=key,
            dial_error_limit=DIAL_ERROR_LIMIT,
            per_dial_timeout=PER_DIAL_TIMEOUT_S,
        )
    return command.remote.ConnectionArgs(
        host=host,
        user=args.ssh_user,
        private_key=key,
        dial_error_limit=DIAL_ERROR_LIMIT,
        per_dial_timeout=PER_DIAL_TIMEOUT_S,
        proxy=proxy,
    )


def step_timeout_s(phase: str | None) -> int:
    """How long one remote step may take in all: dialing, then the phase's outer timeout (or a plain step's)."""
    if phase is None:
        return DIAL_BUDGET_S + PLAIN_STEP_S
    return DIAL_BUDGET_S + catalogue.outer_timeout(phase) + SESSION_SLACK_S


def custom_timeouts(phase: str | None) -> pulumi.CustomTimeouts:
    """The engine's bound on a step's create and update (an update re-runs ``create``); no step has a delete."""
    limit = f"{step_timeout_s(phase)}s"
    return pulumi.CustomTimeouts(create=limit, update=limit)


def phase_command(phase: str, args: str = "") -> str:
    """The command string of a phase: never carries a secret (the phases read secrets.json)."""
    limit = catalogue.outer_timeout(phase)
    return f"sudo timeout {limit} {node_bundle.ENTRY} {phase}{(' ' + args) if args else ''}"


def staged_path(bundle: node_bundle.Bundle) -> str:
    """Where the bundle lands: relative, so in the SSH user's home, not a world-writable /tmp."""
    return f".cloud-exchange-ha-{bundle.short}.b64"


def install_command(bundle: node_bundle.Bundle) -> str:
    """Unpack the shipped bundle into a fresh folder and swap it in (a half-copied bundle never runs)."""
    staged = staged_path(bundle)
    target = node_bundle.INSTALL_DIR
    return (
        f"set -e; base64 -d {staged} > {staged}.tgz; "
        f"sudo rm -rf {target}.new && sudo mkdir -p {target}.new && sudo tar -xzf {staged}.tgz -C {target}.new; "
        f"sudo rm -rf {target}.old; if [ -d {target} ]; then sudo mv {target} {target}.old; fi; "
        f"sudo mv {target}.new {target} && sudo rm -rf {target}.old {staged}.tgz; "
        f"echo 'bundle: installed {bundle.short}'"
    )


WRITE_NODE_FILE = (
    f"sudo install -D -m 0644 -o root -g root /dev/stdin {CONFIG_DIR}/{NODE_FILE} && echo 'config: written'"
)
WRITE_SECRETS_FILE = (
    f"sudo install -D -m 0600 -o root -g root /dev/stdin {CONFIG_DIR}/{SECRETS_FILE} && echo 'secrets: written'"
)


def booted_command(node: str, host: str, user: str) -> str:
    """The first step on a node: SSH answers and sudo needs no password; both messages name the node and its address."""
    return (
        f"if ! sudo -n true 2>/dev/null; then echo 'ERROR booted: {node} ({host}): {user} logged in over SSH but sudo "
        f"asks for a password - fix: give sshUser passwordless sudo on the node' >&2; exit 1; fi; "
        f"echo 'booted: {node} ({host}) reachable over SSH as {user}'"
    )


def secrets_document(args: StepsArgs) -> pulumi.Output[str]:
    """secrets.json as a Pulumi secret: only ever sent on stdin (with the UI key when one is configured)."""
    document = NodeSecrets(
        maintenance_password=args.maintenance_password.get_secret_value(),
        jwt_secret=args.jwt_secret.get_secret_value(),
    )
    if args.ui_certificate_file:  # the certs phase puts them in the shared config (primary)
        document = dataclasses.replace(
            document,
            ui_certificate=Path(args.ui_certificate_file).read_text(encoding="utf-8"),
            ui_certificate_key=Path(args.ui_certificate_key_file).read_text(encoding="utf-8"),
        )
    return pulumi.Output.secret(document.to_json())


class NodeSteps(pulumi.ComponentResource):
    """All remote steps of one node; ``phase()`` declares one more, after the ones it names."""

    def __init__(
        self,
        name: str,
        args: StepsArgs,
        host: pulumi.Input[str],
        node_json: pulumi.Input[str],
        bundle: node_bundle.Bundle,
        after: Sequence[pulumi.Resource],
        instance: pulumi.CustomResource | None,
        opts: pulumi.ResourceOptions | None = None,
    ):
        super().__init__("cloudexchange:ha:NodeSteps", name, None, opts)
        self.node_name = name
        self._connection = connection(args, host)
        self._instance = instance
        #: the VM behind the node's address: a new one (replacement) re-runs every step on the node
        self._identity: list[pulumi.Input[object]] = [instance.id] if instance else []
        self.node_json = node_json
        self.bundle = bundle
        probe = pulumi.Output.from_input(host).apply(lambda address: booted_command(name.removesuffix("-steps"), address, args.ssh_user))
        self.booted = self._command("booted", probe, after=[*after, *([instance] if instance else [])])
        self.copied = command.remote.CopyToRemote(
            f"{name}-bundle",
            connection=self._connection,
            source=pulumi.StringAsset(bundle.as_base64),
            remote_path=staged_path(bundle),
            triggers=[bundle.digest, *self._identity],
            opts=self._options([self.booted], phase=None),
        )
        self.installed = self._command("install", install_command(bundle), after=[self.copied], triggers=[bundle.digest])
        self.configured = self._command("config", WRITE_NODE_FILE, after=[self.installed], stdin=node_json)
        self.secrets = self._command(
            "secrets", WRITE_SECRETS_FILE, after=[self.installed], stdin=secrets_document(args), secret=True
        )
        self.register_outputs({})

    def phase(
        self,
        phase: str,
        *,
        after: Sequence[pulumi.Resource],
        triggers: Sequence[pulumi.Input[object]],
        args: str | pulumi.Output[str] = "",
        step: str | None = None,
        about_this_node: bool = True,
    ) -> command.remote.Command:
        """Run ``ce-node <phase>`` after ``after``; it re-runs only when ``triggers`` change.

        Its output is secret when the catalogue says so (setup: CE prints what it generated).
        ``about_this_node=False``: the step is about another node (evict on a survivor), so this
        node's own instance is not among its triggers: a replaced survivor does not re-run it.
        """
        create: pulumi.Input[str] = (
            phase_command(phase, args) if isinstance(args, str)
            else args.apply(lambda text: phase_command(phase, text))
        )
        return self._command(
            step or phase, create, after=[self.configured, self.secrets, *after],
            triggers=list(triggers), secret=catalogue.PHASES[phase].secret_output, phase=phase, identity=about_this_node,
        )

    def _options(self, after: Sequence[pulumi.Resource], *, phase: str | None, secret: bool = False) -> pulumi.ResourceOptions:
        return pulumi.ResourceOptions(
            parent=self,
            depends_on=list(after),
            deleted_with=self._instance,
            additional_secret_outputs=SECRET_OUTPUTS if secret else None,
            custom_timeouts=custom_timeouts(phase),
        )

    def _command(
        self,
        step: str,
        create: pulumi.Input[str],
        *,
        after: Sequence[pulumi.Resource],
        stdin: pulumi.Input[str] | None = None,
        triggers: Sequence[pulumi.Input[object]] | None = None,
        secret: bool = False,
        phase: str | None = None,
        identity: bool = True,
    ) -> command.remote.Command:
        return command.remote.Command(
            f"{self.node_name}-{step}",
            connection=self._connection,
            create=create,
            stdin=stdin,
            triggers=[*(triggers or []), *(self._identity if identity else [])] or None,
            add_previous_output_in_env=False,
            logging=command.remote.Logging.NONE if secret else command.remote.Logging.STDOUT_AND_STDERR,
            opts=self._options(after, phase=phase, secret=secret),
        )
