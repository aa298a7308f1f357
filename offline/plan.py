"""Offline plan: what ``pulumi up`` would declare for a stack file, without cloud, CLI or network.

Owns: finding and reading ``Pulumi.<stack>.yaml`` (the project's, an example's in ``examples/``,
or any path; plus ``Pulumi.yaml`` defaults), running the program under ``AwsMocks``, and printing
the resources grouped by component with their key properties, the ordered remote steps per node
with secrets masked, the cutover window, policy violations (exit 3 when a mandatory
policy is violated, as ``pulumi preview --policy-pack`` would fail), and any settings errors
(exit 2). It also writes the dependency graph as Mermaid and JSON. With ``--change SETTING=VALUE``
it plans the changed stack too (as an update of the planned one, which it then runs) and lists the
remote steps that change would run again (``offline.rerun``). The plan has no state: the version a
stack runs now comes from ``--deployed-version`` (none: a first deployment), and the plan says what
the program would do with it, the same line and the same refusal as ``pulumi preview``; likewise the
number of members it runs comes from ``--deployed-node-count`` (another ``nodeCount`` is refused).
With ``--replace NODE`` it lists the same for a new instance behind that node (its instance id is a
trigger of every step on the node).

Must not touch: the cloud, the network, real secrets (secrets missing from the stack file are
replaced by placeholders that pass validation and are masked like real ones).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import defaultdict
from pathlib import Path
from typing import Any

import yaml

from components import bundle as node_bundle
from components import version_change
from components.settings import PROJECT, schema
from offline import harness, rerun
from offline.mocks import AwsWorld
from scripts.cenode import lines as release_lines
from scripts.cenode import release

ROOT = Path(__file__).resolve().parent.parent
MASK = "****"
PLACEHOLDER_SECRETS = {
    # not a key: the PEM frame around "offline-plan-placeholder" in base64, split so no scanner mistakes it
    "sshPrivateKey": "-----BEGIN OPENSSH " + "PRIVATE KEY-----\nb2ZmbGluZS1wbGFuLXBsYWNlaG9sZGVy\n-----END OPENSSH " + "PRIVATE KEY-----\n",
    "maintenancePassword": "offline-plan-placeholder-mp",
    "jwtSecret": "offline-plan-placeholder-jwt",
}
#: the properties worth a reviewer's eye, per resource type (wire names)
KEY_PROPERTIES = {
    "aws:ec2/instance:Instance": ["instanceType", "primaryNetworkInterface", "ami", "metadataOptions", "rootBlockDevice"],
    "aws:ec2/networkInterface:NetworkInterface": ["subnetId", "securityGroups"],
    "aws:ec2/eip:Eip": ["domain", "networkInterface"],
    "aws:ec2/volumeAttachment:VolumeAttachment": ["deviceName", "volumeId", "instanceId"],
    "aws:ec2/amiFromInstance:AmiFromInstance": ["name", "sourceInstanceId", "snapshotWithoutReboot"],
    "aws:efs/fileSystem:FileSystem": ["creationToken", "encrypted", "throughputMode"],
    "aws:efs/mountTarget:MountTarget": ["subnetId"],
    "aws:ec2/securityGroup:SecurityGroup": ["description", "vpcId"],
    "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule": ["fromPort", "toPort", "cidrIpv4", "referencedSecurityGroupId", "description"],
    "aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule": ["fromPort", "toPort", "cidrIpv4", "referencedSecurityGroupId", "description"],
    "aws:ebs/volume:Volume": ["size", "type", "encrypted", "availabilityZone"],
    "aws:lb/loadBalancer:LoadBalancer": ["loadBalancerType", "internal", "subnets", "enableCrossZoneLoadBalancing"],
    "aws:lb/listener:Listener": ["port", "protocol"],
    "aws:lb/targetGroup:TargetGroup": ["port", "protocol", "targetType", "healthCheck"],
    "aws:lb/targetGroupAttachment:TargetGroupAttachment": ["targetId", "port"],
    "aws:route53/record:Record": ["name", "type", "zoneId"],
}


def stack_file(stack: str, root: Path = ROOT) -> Path:
    """``Pulumi.<stack>.yaml`` in the project folder, else the example of that name in ``examples/<stack>/``."""
    for path in (root / f"Pulumi.{stack}.yaml", root / "examples" / stack / f"Pulumi.{stack}.yaml"):
        if path.is_file():
            return path
    known = sorted(root.glob("Pulumi.*.yaml")) + sorted(root.glob("examples/*/Pulumi.*.yaml"))
    raise FileNotFoundError(f"no stack file Pulumi.{stack}.yaml; stacks here: "
                            + ", ".join(str(p.relative_to(root)) for p in known))


def stack_name(path: Path) -> str:
    """The stack a file configures, from its name ``Pulumi.<stack>.yaml``."""
    if not (path.name.startswith("Pulumi.") and path.name.endswith(".yaml")) or path.name == "Pulumi.yaml":
        raise FileNotFoundError(f"{path}: a stack file is named Pulumi.<stack>.yaml")
    return path.name[len("Pulumi."):-len(".yaml")]


def read_stack_file(path: Path) -> tuple[dict[str, Any], list[str]]:
    """Project config from one stack file; secrets absent there are filled with placeholders."""
    if not path.is_file():
        raise FileNotFoundError(f"no stack file {path}")
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    config: dict[str, Any] = {}
    secret_keys = [k for k, v in schema().items() if v.get("secret")]
    placeheld: list[str] = []
    for full_key, value in (data.get("config") or {}).items():
        if isinstance(value, dict) and "secure" in value:
            raise SystemExit(f"{full_key} is encrypted in {path.name}; the offline plan uses placeholders for secrets, "
                             "so remove it from the file or run pulumi preview")
        if full_key.startswith(f"{PROJECT}:"):
            config[full_key.split(":", 1)[1]] = value
    for name in secret_keys:
        if name not in config:
            config[name] = PLACEHOLDER_SECRETS[name]
            placeheld.append(name)
    return config, placeheld


def aws_region(path: Path) -> str | None:
    """The stack file's ``aws:region``, so the mocked zones carry the region's name."""
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    region = (data.get("config") or {}).get("aws:region")
    return str(region) if region else None


def secret_values(config: dict[str, Any]) -> list[str]:
    values = [str(config[k]) for k, v in schema().items() if v.get("secret") and config.get(k)]
    return [v for v in values if len(v) >= 4]


def mask(text: str, secrets: list[str]) -> str:
    for value in secrets:
        text = text.replace(value, MASK)
        for line in value.splitlines():
            if len(line) >= 8:
                text = text.replace(line, MASK)
    return text


#: exit codes besides 0: settings refused (nothing declared), a mandatory policy violated
EXIT_SETTINGS, EXIT_POLICY = 2, 3


def version_line(config: dict[str, Any], deployed: str | None) -> str | None:
    """What the run does with the CE version (``version_change.describe``); None when ceVersion is not a tag."""
    try:
        wanted = release.tag_name(str(config["ceVersion"]))
        return version_change.describe(None if deployed is None else release.tag_name(deployed), wanted)
    except (KeyError, ValueError):
        return None  # unset or not a tag: the settings errors say so


def render(result: harness.Run, stack: str, placeheld: list[str], secrets: list[str],
           config: dict[str, Any] | None = None, violations: list[Any] | None = None, version: str | None = None) -> str:
    lines = [f"Offline plan for stack '{stack}' (mocked AWS answers; nothing was contacted)"]
    if placeheld:
        lines.append(f"  secrets not in the stack file, shown as {MASK}: {', '.join(placeheld)}")
    if version:
        lines.append(f"  version: {version}")
    if result.error:
        lines += ["", "SETTINGS ERRORS (pulumi up would stop here, before any resource):", result.error]
        return mask("\n".join(lines), secrets)
    children: dict[str | None, list[harness.Declared]] = defaultdict(list)
    for resource in result.resources:
        children[resource.parent].append(resource)
    lines += ["", f"Resources ({len(result.resources)}), by component:"]

    def walk(parent: str | None, depth: int) -> None:
        for resource in children.get(parent, []):
            flags = [f for f, on in (("protect", resource.protect), ("retain-on-delete", resource.retain_on_delete),
                                     ("delete-before-replace", resource.delete_before_replace)) if on]
            if resource.ignore_changes:
                flags.append("ignore-changes=" + ",".join(resource.ignore_changes))
            if resource.depends_on:
                flags.append("after=" + ",".join(resource.depends_on))
            suffix = f"  [{'; '.join(flags)}]" if flags else ""
            lines.append(f"{'  ' * depth}+ {resource.typ}  {resource.name}{suffix}")
            props = [f"{p}={_show(resource.inputs[p])}" for p in KEY_PROPERTIES.get(resource.typ, []) if p in resource.inputs]
            if props:
                lines.append(f"{'  ' * (depth + 2)}" + "  ".join(props))
            walk(resource.name, depth + 1)

    walk(None, 1)
    lines += ["", *render_steps(result)]
    lines += ["", *render_policy(result, config, violations)]
    lines += ["", "Outputs:"]
    for name, value in result.outputs.items():
        lines.append(f"  {name}: {json.dumps(value, sort_keys=True)}")
    return mask("\n".join(lines), secrets)


REMOTE_TYPES = ("command:remote:Command", "command:remote:CopyToRemote")
#: the prefix of the window's step names (``lines.base``), left out where the window is listed
CUTOVER_PREFIX = release_lines.WINDOW_PREFIX
#: the prefix of a secondary's steps after the window, while CE serves (``lines.base``)
JOIN_PREFIX = release_lines.JOIN_PREFIX
#: the prefix of a node's stop before the window, while CE serves from its primary (``lines.base``)
DRAIN_PREFIX = release_lines.DRAIN_PREFIX


def phase_of(resource: harness.Declared) -> str:
    """The ``ce-node`` phase a remote step runs ("" for the bundle and config steps)."""
    words = str(resource.inputs.get("create", "")).split()
    return words[words.index(node_bundle.ENTRY) + 1] if node_bundle.ENTRY in words[:-1] else ""


def step_name(resource: harness.Declared) -> str:
    """``cutover-stop`` of ``ce-1-steps-cutover-stop``."""
    return resource.name.partition("-steps-")[2]


def in_window(resource: harness.Declared) -> bool:
    """Whether a remote step runs in the cutover window (the lines' plans name those steps ``cutover-*``)."""
    return step_name(resource).startswith(CUTOVER_PREFIX)


def draining(resource: harness.Declared) -> bool:
    """Whether a remote step is a node's stop before the window (``drain-*``), while CE serves from its primary."""
    return step_name(resource).startswith(DRAIN_PREFIX)


def holder_steps(window: list[harness.Declared]) -> list[harness.Declared]:
    """The window's steps of one node (the first that has any): the lines run them on every node in turn and
    only the holder of CE's primary role acts, so the window is one node's stop, setup and start."""
    first = window[0].name.split("-steps-")[0] if window else ""
    return [r for r in window if r.name.split("-steps-")[0] == first]


def joining(resource: harness.Declared) -> bool:
    """Whether a remote step is a secondary's join after the window (``join-*``), while CE serves."""
    return step_name(resource).startswith(JOIN_PREFIX)


def waves(result: harness.Run) -> list[list[str]]:
    """Remote steps grouped by the earliest moment they can run (each wave waits for the previous)."""
    steps = {r.name: r for r in result.resources if r.typ in REMOTE_TYPES}
    level: dict[str, int] = {}

    def depth(name: str) -> int:
        if name not in level:
            deps = [d for d in steps[name].depends_on if d in steps]
            level[name] = 1 + max((depth(d) for d in deps), default=-1)
        return level[name]

    grouped: dict[int, list[str]] = defaultdict(list)
    for name in steps:
        grouped[depth(name)].append(name)
    return [sorted(grouped[i]) for i in sorted(grouped)]


def describe_step(resource: harness.Declared) -> str:
    if resource.typ == "command:remote:CopyToRemote":
        return f"copy bundle -> ~/{resource.inputs.get('remotePath')}"
    text = str(resource.inputs.get("create", ""))
    stdin = resource.inputs.get("stdin")
    if isinstance(stdin, dict) and harness.SECRET_SIG in stdin:
        text += f"   < stdin: {MASK} (secret)"
    elif isinstance(stdin, str):
        text += f"   < stdin: {len(stdin)} bytes"
    if resource.inputs.get("logging") == "none":  # pulumi up shows neither its output nor its progress
        text += "   [silent: output is secret, no progress shown]"
    return text


def policy_violations(result: harness.Run, config: dict[str, Any] | None) -> list[Any]:
    """The policy pack's validators over the mocked graph (the same functions the pack runs)."""
    from offline import policies

    return policies.check_run(result, config)


def mandatory(violations: list[Any]) -> list[Any]:
    from policy import rules

    return [v for v in violations if rules.SPECS[v.policy].level == "mandatory"]


def render_policy(result: harness.Run, config: dict[str, Any] | None, violations: list[Any] | None = None) -> list[str]:
    """The policy verdict: the violations given, or those of ``result``."""
    from policy import rules

    if violations is None:
        violations = policy_violations(result, config)
    if not violations:
        return [f"Policy pack ({len(rules.RESOURCE_CHECKS) + len(rules.STACK_CHECKS)} policies): no violations"]
    lines = [f"POLICY VIOLATIONS ({len(violations)}):"]
    lines += [f"  - [{v.policy}] {v.resource}: {v.message}" for v in violations]
    return lines


def render_steps(result: harness.Run) -> list[str]:
    steps = [r for r in result.resources if r.typ in REMOTE_TYPES]
    if not steps:
        return []
    order = {name: i for i, wave in enumerate(waves(result)) for name in wave}
    lines = ["Remote steps per node, in order (step: command):"]
    by_node: dict[str, list[harness.Declared]] = defaultdict(list)
    for step in steps:
        by_node[step.name.split("-steps-")[0]].append(step)
    for node, node_steps in by_node.items():
        lines.append(f"  {node}:")
        for step in sorted(node_steps, key=lambda r: order[r.name]):
            lines.append(f"    [wave {order[step.name] + 1:>2}] {step.name.split('-steps-')[1]:<16} {describe_step(step)}")
    drains = sorted((r for r in steps if draining(r)), key=lambda r: order[r.name])
    if drains:
        lines += ["", f"Before the window, each node that is not CE's primary stops if its setup is due, then keeps a copy of its "
                      f"stopped member if an upgrade is staged ({len(drains)} steps, one at a time; at a first deployment nothing "
                      "runs there yet): " + ", ".join(" ".join(r.name.split("-steps-")).replace(DRAIN_PREFIX, "") for r in drains)]
    cutover = sorted((r for r in steps if in_window(r)), key=lambda r: order[r.name])
    window = holder_steps(cutover)
    lines += ["", f"Cutover window (CE is down only here; {len(window)} steps, one at a time, on the node holding CE's primary "
                  f"role: {window[0].name.split('-steps-')[0] if window else 'none'} at a first deployment, found on the nodes "
                  "later):"]
    for index, step in enumerate(window, start=1):
        node, name = step.name.split("-steps-")
        lines.append(f"  {index}. {node}: {name.removeprefix(CUTOVER_PREFIX)}")
    others = sorted({r.name.split("-steps-")[0] for r in cutover} - {r.name.split("-steps-")[0] for r in window})
    if others:
        lines.append(f"  ({', '.join(others)} run the same steps in turn and report unchanged: not CE's primary)")
    joins = sorted((r for r in steps if joining(r)), key=lambda r: order[r.name])
    if joins:
        lines += ["", f"Then each secondary joins while CE serves ({len(joins)} steps, one at a time; CE's primary's own "
                      "report unchanged):"]
        for index, step in enumerate(joins, start=1):
            node, name = step.name.split("-steps-")
            lines.append(f"  {index}. {node}: {name.removeprefix(JOIN_PREFIX)}")
    parallel = [len(w) for w in waves(result)]
    lines.append(f"Remote-step waves: {len(parallel)}; the widest runs {max(parallel)} steps at once "
                 "(every node prepares in parallel; AWS resources are not counted)")
    return lines


def parse_changes(items: list[str]) -> dict[str, Any]:
    """``SETTING=VALUE`` pairs; a value is read as YAML, as in the stack file (``nodeCount=5``, ``ceVersion=v5.1.3``)."""
    changes: dict[str, Any] = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep or not name.strip():
            raise ValueError(f"--change {item!r}: expected SETTING=VALUE")
        changes[name.strip()] = yaml.safe_load(value)
    return changes


def describe_change(changes: dict[str, Any], replaced: list[str] | None = None) -> str:
    """``ceVersion=v5.1.3, a new instance for ce-2`` (what the re-runs section is about)."""
    parts = [f"{k}={json.dumps(v) if not isinstance(v, str) else v}" for k, v in changes.items()]
    if replaced:
        parts.append(f"a new instance for {', '.join(replaced)}")
    return ", ".join(parts)


def replaceable(result: harness.Run) -> list[str]:
    """The nodes whose instance the program creates (a replacement is a new one); never the adopted primary."""
    return [r.name.removesuffix("-vm") for r in result.resources if r.typ == "aws:ec2/instance:Instance"]


def render_reruns(reruns: rerun.Reruns, changes: dict[str, Any], replaced: list[str] | None = None) -> list[str]:
    """Which remote steps a change runs again (and which it adds or removes), per node."""
    shown = describe_change(changes, replaced)
    lines = [f"Re-runs after {shown} (pulumi-command runs a step again only when its own inputs change):"]
    for title, names in (("again", reruns.again), ("new", reruns.new), ("gone", reruns.gone)):
        if not names:
            lines.append(f"  {title}: none")
            continue
        by_node: dict[str, list[str]] = defaultdict(list)
        for name in names:
            node, _, step = name.partition("-steps-")
            by_node[node].append(step)
        lines.append(f"  {title} ({len(names)}):")
        lines += [f"    {node}: {', '.join(steps)}" for node, steps in by_node.items()]
    window = [n for n in reruns.again + reruns.new if n.partition("-steps-")[2].startswith(CUTOVER_PREFIX)]
    on_new = [n for n in window if n.partition("-steps-")[0] in (replaced or [])]
    if len(on_new) < len(window):
        per_node = len({n.partition("-steps-")[2] for n in window})
        verdict = (f"the cutover runs again ({per_node} steps on CE's primary: CE goes down where its setup is due; "
                   "every other node's drain stops it first)")
    elif on_new:
        verdict = (f"no cutover step runs on the other nodes (CE stays up); the new instance runs its own ({len(on_new)} "
                   "steps, which act only on CE's primary) and joins as a secondary")
    else:
        verdict = "no cutover step runs (CE stays up)"
    lines.append(f"  left alone: {len(reruns.unchanged)} steps; {verdict}")
    return lines


def _show(value: Any) -> str:
    """Compact JSON with whole numbers as integers (the mocks hand numbers back as floats)."""

    def tidy(item: Any) -> Any:
        if isinstance(item, float) and item.is_integer():
            return int(item)
        if isinstance(item, dict):
            return {k: tidy(v) for k, v in sorted(item.items())}
        if isinstance(item, list):
            return [tidy(v) for v in item]
        return item

    return json.dumps(tidy(value), separators=(",", ":"))


def world_for(
    config: dict[str, Any], region: str | None = None, deployed: str | None = None, replaced: list[str] | None = None,
    deployed_nodes: int | None = None,
) -> AwsWorld:
    """A fake account consistent with the stack file: its region, VPC, primary, and subnets in distinct zones,
    and the stack's state: the CE version it runs (``deployed``; None: never deployed) and its number of
    members (``deployed_nodes``; None: never deployed); ``replaced``: the nodes whose instance is a new one."""
    world = AwsWorld(deployed_ce_version=deployed, deployed_node_count=deployed_nodes,
                     replaced_nodes=frozenset(replaced or ()))
    if region:
        world.region = region
        world.primary_zone = f"{region}a"
    if config.get("vpcId"):
        world.vpc_id = str(config["vpcId"])
    if config.get("primaryInstanceId"):
        world.primary_instance_id = str(config["primaryInstanceId"])
    return world


def graph_json(result: harness.Run) -> dict[str, Any]:
    order = {name: i for i, wave in enumerate(waves(result)) for name in wave}
    return {
        "resources": [
            {"type": r.typ, "name": r.name, "parent": r.parent, "dependsOn": r.depends_on,
             "protect": r.protect, "retainOnDelete": r.retain_on_delete, "deleteBeforeReplace": r.delete_before_replace,
             "ignoreChanges": r.ignore_changes}
            for r in result.resources
        ],
        "steps": [
            {"name": r.name, "node": r.name.split("-steps-")[0], "step": r.name.split("-steps-")[1],
             "wave": order[r.name] + 1, "cutover": in_window(r), "join": joining(r), "command": describe_step(r)}
            for r in result.resources if r.typ in REMOTE_TYPES
        ],
    }


def graph_mermaid(result: harness.Run) -> str:
    def node_id(name: str) -> str:
        return name.replace("-", "_").replace(".", "_").replace("/", "_")

    lines = ["flowchart TD"]
    for r in result.resources:
        lines.append(f'  {node_id(r.name)}["{r.name}<br/><small>{r.typ.split(":")[-1]}</small>"]')
        if r.parent:
            lines.append(f"  {node_id(r.parent)} -.-> {node_id(r.name)}")
        for dep in r.depends_on:
            lines.append(f"  {node_id(dep)} --> {node_id(r.name)}")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--stack", default="dev",
                        help="stack name: reads Pulumi.<stack>.yaml, else examples/<stack>/Pulumi.<stack>.yaml (default dev)")
    parser.add_argument("--stack-file", help="path of a Pulumi.<stack>.yaml to plan instead (its name gives the stack)")
    parser.add_argument("--out", default="build/plan", help="folder for <stack>.json and <stack>.mmd")
    parser.add_argument("--change", action="append", default=[], metavar="SETTING=VALUE",
                        help="also list the remote steps this change of a setting would run again (repeatable)")
    parser.add_argument("--deployed-version", metavar="TAG",
                        help="the CE version the stack runs now (its ceVersion output; the plan has no state): the plan then "
                             "says whether ceVersion is the same, an upgrade or refused, as pulumi preview would (default: "
                             "a first deployment)")
    parser.add_argument("--deployed-node-count", metavar="N", type=int,
                        help="the number of members the stack runs now (its nodes output; the plan has no state): the plan "
                             "then refuses another nodeCount, as pulumi preview would (default: a first deployment)")
    parser.add_argument("--replace", action="append", default=[], metavar="NODE",
                        help="also list the remote steps a new instance for this node (e.g. ce-2) would run (repeatable)")
    parser.add_argument("--root", default=str(ROOT), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    try:
        path = Path(args.stack_file) if args.stack_file else stack_file(args.stack, Path(args.root))
        stack = stack_name(path)
        config, placeheld = read_stack_file(path)
        changes = parse_changes(args.change)
        deployed = None if args.deployed_version is None else release.tag_name(args.deployed_version)
    except (FileNotFoundError, ValueError) as missing:
        print(f"error: {missing}", file=sys.stderr)
        return 2
    result = harness.run(config, stack=stack, world=world_for(config, aws_region(path), deployed,
                                                              deployed_nodes=args.deployed_node_count),
                         secret_keys=list(PLACEHOLDER_SECRETS))
    secrets = secret_values(config)
    violations = [] if result.error else policy_violations(result, config)
    print(render(result, stack, placeheld, secrets, config, violations, version_line(config, deployed)))
    if result.error:
        return EXIT_SETTINGS
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / f"{stack}.json").write_text(mask(json.dumps(graph_json(result), indent=2), secrets) + "\n", encoding="utf-8")
    (out / f"{stack}.mmd").write_text(mask(graph_mermaid(result), secrets), encoding="utf-8")
    print(f"\nGraph written to {out / (stack + '.mmd')} (Mermaid) and {out / (stack + '.json')}")
    unknown = [node for node in args.replace if node not in replaceable(result)]
    if unknown:
        print(f"error: --replace {', '.join(unknown)}: the program creates no instance for it; nodes whose instance "
              f"it can replace: {', '.join(replaceable(result)) or 'none'} (never the adopted primary)", file=sys.stderr)
        return EXIT_SETTINGS
    if changes or args.replace:
        # an update of the stack just planned: it then runs the planned ceVersion and members
        world = world_for(config, aws_region(path), str(config["ceVersion"]), args.replace,
                          deployed_nodes=len(result.outputs["nodes"]))
        changed = harness.run({**config, **changes}, stack=stack, world=world, secret_keys=list(PLACEHOLDER_SECRETS))
        if changed.error:
            print(mask(f"\nThe change is refused (pulumi up would stop before any resource):\n{changed.error}", secrets))
            return EXIT_SETTINGS
        print(mask("\n" + "\n".join(render_reruns(rerun.compare(result, changed), changes, args.replace)), secrets))
    blocking = mandatory(violations)
    if blocking:
        print(f"\n{len(blocking)} mandatory policy violation(s): pulumi preview/up with the policy pack would stop here", file=sys.stderr)
        return EXIT_POLICY
    return 0


if __name__ == "__main__":
    sys.exit(main())
