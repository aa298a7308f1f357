"""The UI's load balancer under mocks (issue 16): each mode, its resources, inputs, options, rules and outputs."""

from __future__ import annotations

import datetime
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from components import settings as s
from components import ui_certificate
from offline import harness
from offline.mocks import AwsWorld
from tests.unit import stacks

LB = "aws:lb/loadBalancer:LoadBalancer"
LISTENER = "aws:lb/listener:Listener"
TARGET_GROUP = "aws:lb/targetGroup:TargetGroup"
ATTACHMENT = "aws:lb/targetGroupAttachment:TargetGroupAttachment"
RECORD = "aws:route53/record:Record"
INGRESS = "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule"
EGRESS = "aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule"
LB_TYPES = {LB, LISTENER, TARGET_GROUP, ATTACHMENT, RECORD}

PRIMARY = "i-0123456789abcdef0"
#: the mocks' instance ids of the new nodes ce-1-vm ... ce-5-vm (derived from their names)
NEW = {1: "i-8b78545fc17288eaa", 2: "i-2d9d061037a6886c0", 3: "i-591b4a66cae4235b8", 4: "i-a7b3a447bb613a78c",
       5: "i-0552e49d4f304118a"}
NODE_SG = "sg-995190f9970346c93"
LB_SG = "sg-f3645b68c3b6b44c9"
LB_DNS = "internal-ce-lb-nlb-0d539189fa.elb.eu-west-1.amazonaws.com"
NLB_ZONE = "Z2IFOLAFXWLO4F"
ZONE_ID = "Z0123456789ABCDEFGHIJ"
FIVE = ["subnet-0ccccccccccccccc1", "subnet-0ddddddddddddddd2", "subnet-0eeeeeeeeeeeeeee3", "subnet-0fffffffffffffff4",
        "subnet-0aaaaaaaaaaaaaaa5"]
HEALTH_CHECK = {"enabled": True, "protocol": "HTTPS", "port": "traffic-port", "path": "/", "matcher": "200-399",
                "interval": 10, "timeout": 6, "healthyThreshold": 3, "unhealthyThreshold": 2}


def run(config: dict[str, Any], world: AwsWorld | None = None) -> harness.Run:
    result = harness.run(config, secret_keys=stacks.SECRET_KEYS, world=world)
    assert result.error is None, result.error
    return result


def whole(value: Any) -> Any:
    """The mocks hand numbers back as floats; the expectations are written as whole numbers."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, dict):
        return {k: whole(v) for k, v in value.items()}
    if isinstance(value, list):
        return [whole(v) for v in value]
    return value


# ---- none: today's behaviour -----------------------------------------------------------------------


def test_none_is_the_default_and_declares_no_balancer() -> None:
    assert s.parse(stacks.migrate()).load_balancer == "none"
    result = run(stacks.migrate())
    assert [r.name for r in result.resources if r.typ in LB_TYPES] == []
    assert result.outputs["uiUrl"] is None and result.outputs["loadBalancerDnsName"] is None
    ui = {(r.inputs.get("cidrIpv4"), r.inputs.get("referencedSecurityGroupId"), r.inputs["description"])
          for r in result.of_type(INGRESS) if r.inputs["fromPort"] == 443}
    assert ui == {("198.51.100.0/24", None, "CE UI"), (None, NODE_SG, "CE UI between nodes (verify)")}
    assert "ce-net-lb" not in [r.name for r in result.resources]


# ---- internal, every shape of cluster ------------------------------------------------------------------

SHAPES = [
    # (config, expected subnets of the balancer, expected targets by node)
    (stacks.migrate(loadBalancer="internal"),
     ["subnet-0primary000000001", "subnet-0aaaaaaaaaaaaaaa1", "subnet-0bbbbbbbbbbbbbbb2"],
     {"ce-1": PRIMARY, "ce-2": NEW[2], "ce-3": NEW[3]}),
    (stacks.migrate(loadBalancer="internal", ceVersion="v6.1.0", nodeCount=5, subnetIds=FIVE[:4]),
     ["subnet-0primary000000001", *FIVE[:4]],
     {"ce-1": PRIMARY, "ce-2": NEW[2], "ce-3": NEW[3], "ce-4": NEW[4], "ce-5": NEW[5]}),
    (stacks.greenfield(loadBalancer="internal"),
     ["subnet-0ccccccccccccccc1", "subnet-0ddddddddddddddd2", "subnet-0eeeeeeeeeeeeeee3"],
     {"ce-1": NEW[1], "ce-2": NEW[2], "ce-3": NEW[3]}),
    (stacks.greenfield(loadBalancer="internal", ceVersion="v6.1.0", nodeCount=5, subnetIds=FIVE),
     FIVE, {"ce-1": NEW[1], "ce-2": NEW[2], "ce-3": NEW[3], "ce-4": NEW[4], "ce-5": NEW[5]}),
]


@pytest.mark.parametrize(("config", "subnets", "targets"), SHAPES,
                         ids=["migrate-5x-3", "migrate-6x-5", "greenfield-5x-3", "greenfield-6x-5"])
def test_internal_balancer_spans_the_node_zones_and_targets_every_node(
    config: dict[str, Any], subnets: list[str], targets: dict[str, str]
) -> None:
    result = run(config)
    (balancer,) = result.of_type(LB)
    assert whole({k: balancer.inputs[k] for k in ("loadBalancerType", "internal", "subnets", "securityGroups",
                                                  "enableCrossZoneLoadBalancing", "enableDeletionProtection")}) == {
        "loadBalancerType": "network", "internal": True, "subnets": subnets, "securityGroups": [LB_SG],
        "enableCrossZoneLoadBalancing": True, "enableDeletionProtection": False,
    }
    (group,) = result.of_type(TARGET_GROUP)
    assert whole({k: group.inputs[k] for k in ("port", "protocol", "targetType", "preserveClientIp", "deregistrationDelay")}) == {
        "port": 443, "protocol": "TCP", "targetType": "instance", "preserveClientIp": "true", "deregistrationDelay": 30}
    assert whole(group.inputs["healthCheck"]) == HEALTH_CHECK
    (listener,) = result.of_type(LISTENER)
    assert whole(listener.inputs["port"]) == 443 and listener.inputs["protocol"] == "TCP"
    (action,) = listener.inputs["defaultActions"]
    assert action["type"] == "forward" and action["targetGroupArn"].endswith(":targetgroup/ce-lb-nodes/15398a096c9cbd03")
    attached = {r.name.removeprefix("ce-lb-"): r.inputs["targetId"] for r in result.of_type(ATTACHMENT)}
    assert attached == targets
    assert {whole(r.inputs["port"]) for r in result.of_type(ATTACHMENT)} == {443}
    assert result.of_type(RECORD) == []
    assert result.outputs["loadBalancerDnsName"] == LB_DNS
    assert result.outputs["uiUrl"] == f"https://{LB_DNS}"


def test_balancer_resources_are_children_of_one_component_and_unprotected() -> None:
    result = run(stacks.migrate(loadBalancer="internal", uiDnsName="ce.example.com", hostedZoneId=ZONE_ID))
    balancer_resources = [r for r in result.resources if r.typ in LB_TYPES]
    assert sorted(r.name for r in balancer_resources) == [
        "ce-lb-ce-1", "ce-lb-ce-2", "ce-lb-ce-3", "ce-lb-dns", "ce-lb-nlb", "ce-lb-nodes", "ce-lb-ui"]
    assert result.named("ce-lb").typ == "cloudexchange:ha:LoadBalancer" and result.named("ce-lb").parent == "ce"
    for resource in balancer_resources:
        assert resource.parent == "ce-lb", resource.name
        # it holds no data: pulumi destroy removes it, and nothing waits on the nodes' steps
        assert not resource.protect and not resource.retain_on_delete and resource.deleted_with is None, resource.name


def test_balancer_carries_the_stack_tags() -> None:
    result = run(stacks.migrate(loadBalancer="internal", tags=["Environment=dev"]))
    for name in ("ce-lb-nlb", "ce-lb-nodes", "ce-lb-ui", "ce-net-lb"):
        assert result.named(name).inputs["tags"] == {"Project": "cloud-exchange-ha", "Environment": "dev", "Name": name}


# ---- security groups ---------------------------------------------------------------------------------


def test_ui_cidrs_move_to_the_balancer_and_the_nodes_take_the_ui_from_it() -> None:
    result = run(stacks.migrate(loadBalancer="internal", uiCidrs=["198.51.100.0/24", "10.20.0.0/16"]))
    node_ui = {(r.inputs.get("cidrIpv4"), r.inputs.get("referencedSecurityGroupId"), r.inputs["description"])
               for r in result.of_type(INGRESS) if r.inputs["securityGroupId"] == NODE_SG and r.inputs["fromPort"] == 443}
    assert node_ui == {(None, LB_SG, "CE UI and health checks from the load balancer"),
                       (None, NODE_SG, "CE UI between nodes (verify)")}
    lb_in = {(r.inputs["fromPort"], r.inputs["toPort"], r.inputs.get("cidrIpv4"), r.inputs["description"])
             for r in result.of_type(INGRESS) if r.inputs["securityGroupId"] == LB_SG}
    assert lb_in == {(443, 443, "198.51.100.0/24", "CE UI through the load balancer"),
                     (443, 443, "10.20.0.0/16", "CE UI through the load balancer")}
    (lb_out,) = [r.inputs for r in result.of_type(EGRESS) if r.inputs["securityGroupId"] == LB_SG]
    assert (lb_out["fromPort"], lb_out["toPort"], lb_out["referencedSecurityGroupId"]) == (443, 443, NODE_SG)
    names = [r.name for r in result.of_type(INGRESS) + result.of_type(EGRESS)]
    assert len(names) == len(set(names))
    group = result.named("ce-net-lb")
    assert group.inputs["vpcId"] == "vpc-0123456789abcdef0" and "ingress" not in group.inputs and "egress" not in group.inputs


def test_ui_port_follows_the_setting_everywhere() -> None:
    result = run(stacks.greenfield(loadBalancer="internal", uiPort=8443))
    assert whole(result.of_type(LISTENER)[0].inputs["port"]) == 8443
    assert whole(result.of_type(TARGET_GROUP)[0].inputs["port"]) == 8443
    assert {whole(r.inputs["port"]) for r in result.of_type(ATTACHMENT)} == {8443}
    assert {(r.inputs["fromPort"], r.inputs["toPort"]) for r in result.of_type(INGRESS) if r.inputs["securityGroupId"] == LB_SG} == {
        (8443, 8443)}
    assert result.outputs["uiUrl"] == f"https://{LB_DNS}:8443"


def test_http_ui_is_health_checked_over_http() -> None:
    result = run(stacks.greenfield(loadBalancer="internal", uiProtocol="http", uiPort=8080))
    assert result.of_type(TARGET_GROUP)[0].inputs["healthCheck"]["protocol"] == "HTTP"
    assert result.outputs["uiUrl"] == f"http://{LB_DNS}:8080"


# ---- DNS ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("port", "url"), [(443, "https://ce.example.com"), (8443, "https://ce.example.com:8443")])
def test_dns_name_is_an_alias_to_the_balancer_and_the_ui_url(port: int, url: str) -> None:
    result = run(stacks.greenfield(loadBalancer="internal", uiDnsName="ce.example.com", hostedZoneId=ZONE_ID, uiPort=port))
    (record,) = result.of_type(RECORD)
    assert record.inputs["name"] == "ce.example.com" and record.inputs["zoneId"] == ZONE_ID and record.inputs["type"] == "A"
    assert record.inputs["aliases"] == [{"name": LB_DNS, "zoneId": NLB_ZONE, "evaluateTargetHealth": True}]
    assert "allowOverwrite" not in record.inputs  # an existing record of that name is not taken over
    assert result.outputs["uiUrl"] == url
    assert result.outputs["loadBalancerDnsName"] == LB_DNS


# ---- internet-facing ------------------------------------------------------------------------------------

PUBLIC = ["subnet-0a0000000000000f1", "subnet-0b0000000000000f2", "subnet-0c0000000000000f3"]


def public_world(zones: tuple[str, ...] = ("eu-west-1a", "eu-west-1b", "eu-west-1c"), vpc: str = "vpc-0123456789abcdef0") -> AwsWorld:
    world = AwsWorld()
    world.subnets.update({
        "subnet-0ccccccccccccccc1": ("eu-west-1a", "vpc-0123456789abcdef0"),
        "subnet-0ddddddddddddddd2": ("eu-west-1b", "vpc-0123456789abcdef0"),
        "subnet-0eeeeeeeeeeeeeee3": ("eu-west-1c", "vpc-0123456789abcdef0"),
        **{subnet: (zone, vpc) for subnet, zone in zip(PUBLIC, zones, strict=True)},
    })
    return world


def public(**more: Any) -> dict[str, Any]:
    return stacks.greenfield(loadBalancer="internet-facing", loadBalancerSubnetIds=PUBLIC, **more)


@pytest.mark.parametrize("dns", [False, True], ids=["no-dns", "dns"])
def test_internet_facing_balancer_lives_in_its_own_public_subnets(dns: bool) -> None:
    more = {"uiDnsName": "ce.example.com", "hostedZoneId": ZONE_ID} if dns else {}
    result = run(public(**more), world=public_world())
    (balancer,) = result.of_type(LB)
    assert balancer.inputs["internal"] is False and balancer.inputs["subnets"] == PUBLIC
    dns_name = "ce-lb-nlb-0d539189fa.elb.eu-west-1.amazonaws.com"
    assert result.outputs["loadBalancerDnsName"] == dns_name
    assert result.outputs["uiUrl"] == ("https://ce.example.com" if dns else f"https://{dns_name}")
    assert len(result.of_type(RECORD)) == (1 if dns else 0)


def test_internet_facing_open_to_everyone_only_with_allow_public_ui() -> None:
    result = run(public(uiCidrs=["0.0.0.0/0"], allowPublicUi=True), world=public_world())
    opened = [r.inputs for r in result.of_type(INGRESS) if r.inputs.get("cidrIpv4") == "0.0.0.0/0"]
    assert [(r["securityGroupId"], r["fromPort"]) for r in opened] == [(LB_SG, 443)]
    refused = harness.run(public(uiCidrs=["0.0.0.0/0"]), secret_keys=stacks.SECRET_KEYS, world=public_world())
    assert refused.resources == [] and "cloud-exchange-ha:uiCidrs: 0.0.0.0/0 opens the CE UI to the whole internet" in str(refused.error)


@pytest.mark.parametrize(("world", "words"), [
    (public_world(zones=("eu-west-1a", "eu-west-1b", "eu-west-1b")),
     ["lists more than one subnet in eu-west-1b", "has no subnet in eu-west-1c, where nodes run"]),
    (public_world(zones=("eu-west-1a", "eu-west-1b", "eu-west-1d")),
     ["has no subnet in eu-west-1c", "lists subnets in eu-west-1d, where no node runs"]),
    (public_world(vpc="vpc-0fedcba9876543210"), ["subnet-0a0000000000000f1 is in vpc-0fedcba9876543210, not in vpcId"]),
], ids=["zone-twice", "zone-missing", "other-vpc"])
def test_public_subnets_must_cover_each_node_zone_once_in_the_vpc(world: AwsWorld, words: list[str]) -> None:
    refused = harness.run(public(), secret_keys=stacks.SECRET_KEYS, world=world)
    assert refused.resources == []
    for text in words:
        assert f"cloud-exchange-ha:loadBalancerSubnetIds: {text}" in str(refused.error)


# ---- bad settings: one clear error naming the key, nothing declared -------------------------------------


@pytest.mark.parametrize(("overrides", "key", "words"), [
    ({"loadBalancer": "public"}, "loadBalancer", "'public'"),
    ({"loadBalancer": "internet-facing", "loadBalancerSubnetIds": PUBLIC, "uiCidrs": []}, "uiCidrs",
     "an internet-facing load balancer needs the networks of the UI's users listed explicitly"),
    ({"loadBalancer": "internet-facing"}, "loadBalancerSubnetIds", "is required with loadBalancer internet-facing"),
    ({"loadBalancer": "internal", "loadBalancerSubnetIds": PUBLIC}, "loadBalancerSubnetIds", "only used with loadBalancer internet-facing"),
    ({"loadBalancer": "internet-facing", "loadBalancerSubnetIds": ["subnet-x"]}, "loadBalancerSubnetIds", "are not subnet ids"),
    ({"loadBalancer": "internal", "uiDnsName": "ce.example.com"}, "hostedZoneId", "is required with uiDnsName"),
    ({"loadBalancer": "internal", "hostedZoneId": ZONE_ID}, "uiDnsName", "is required with hostedZoneId"),
    ({"uiDnsName": "ce.example.com", "hostedZoneId": ZONE_ID}, "uiDnsName", "loadBalancer is none"),
    ({"loadBalancer": "internal", "uiDnsName": "https://ce.example.com", "hostedZoneId": ZONE_ID}, "uiDnsName", "is not a DNS name"),
    ({"loadBalancer": "internal", "uiDnsName": "ce.example.com", "hostedZoneId": "zone-1"}, "hostedZoneId", "is not a Route 53 hosted zone id"),
])
def test_bad_load_balancer_settings_name_the_key_and_declare_nothing(overrides: dict[str, Any], key: str, words: str) -> None:
    with pytest.raises(s.SettingsError) as caught:
        s.parse(stacks.migrate(**overrides))
    assert {p.setting for p in caught.value.problems} == {key}, caught.value.problems
    assert words in str(caught.value)
    refused = harness.run(stacks.migrate(**overrides), secret_keys=stacks.SECRET_KEYS)
    assert refused.resources == [] and f"cloud-exchange-ha:{key}: " in str(refused.error)
    assert "Traceback" not in str(refused.error)


# ---- the UI certificate must cover uiDnsName ----------------------------------------------------------------


def certificate(folder: Path, *names: str) -> tuple[str, str]:
    """A self-signed PEM certificate for ``names`` (subjectAltName DNS entries) and its key."""
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0] if names else "no-san.example.com")])
    now = datetime.datetime.now(datetime.UTC)
    builder = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject).public_key(key.public_key())
               .serial_number(x509.random_serial_number()).not_valid_before(now).not_valid_after(now + datetime.timedelta(days=1)))
    if names:
        builder = builder.add_extension(x509.SubjectAlternativeName([x509.DNSName(n) for n in names]), critical=False)
    cert = builder.sign(key, hashes.SHA256())
    cert_file, key_file = folder / f"ui-{len(list(folder.iterdir()))}.pem", folder / f"ui-{len(list(folder.iterdir()))}.key"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    return str(cert_file), str(key_file)


def with_certificate(cert: tuple[str, str], **more: Any) -> dict[str, Any]:
    return stacks.greenfield(loadBalancer="internal", uiCertificateFile=cert[0], uiCertificateKeyFile=cert[1], **more)


@pytest.mark.parametrize("names", [("ce.example.com",), ("CE.Example.com",), ("*.example.com",), ("other.example.org", "ce.example.com")])
def test_certificate_covering_the_dns_name_is_accepted(tmp_path: Path, names: tuple[str, ...]) -> None:
    cert = certificate(tmp_path, *names)
    parsed = s.parse(with_certificate(cert, uiDnsName="ce.example.com", hostedZoneId=ZONE_ID))
    assert parsed.ui_dns_name == "ce.example.com"


@pytest.mark.parametrize(("names", "listed"), [
    (("other.example.com",), "other.example.com"),
    (("*.example.com",), "*.example.com"),  # a wildcard stands for one label: not a.ce.example.com
    (("*.ce.example.com", "example.com"), "*.ce.example.com, example.com"),
    ((), "no DNS names"),
])
def test_certificate_not_covering_the_dns_name_is_refused_naming_both(tmp_path: Path, names: tuple[str, ...], listed: str) -> None:
    cert = certificate(tmp_path, *names)
    with pytest.raises(s.SettingsError) as caught:
        s.parse(with_certificate(cert, uiDnsName="a.ce.example.com" if names == ("*.example.com",) else "ce.example.com",
                                 hostedZoneId=ZONE_ID))
    (problem,) = caught.value.problems
    assert problem.setting == "uiCertificateFile"
    assert "does not cover uiDnsName" in problem.message and f"its subjectAltName lists {listed})" in problem.message


def test_certificate_with_a_balancer_needs_a_dns_name(tmp_path: Path) -> None:
    cert = certificate(tmp_path, "ce.example.com")
    with pytest.raises(s.SettingsError) as caught:
        s.parse(with_certificate(cert))
    (problem,) = caught.value.problems
    assert problem.setting == "uiDnsName" and "is required with uiCertificateFile and a load balancer" in problem.message
    s.parse(stacks.greenfield(uiCertificateFile=cert[0], uiCertificateKeyFile=cert[1]))  # no balancer: as before


def test_a_file_that_is_no_certificate_is_refused(tmp_path: Path) -> None:
    (tmp_path / "ui.pem").write_text("not a certificate")
    (tmp_path / "ui.key").write_text("key")
    with pytest.raises(s.SettingsError) as caught:
        s.parse(with_certificate((str(tmp_path / "ui.pem"), str(tmp_path / "ui.key")), uiDnsName="ce.example.com",
                                 hostedZoneId=ZONE_ID))
    assert [(p.setting, "is not a PEM certificate" in p.message) for p in caught.value.problems] == [("uiCertificateFile", True)]


@pytest.mark.parametrize(("pattern", "host", "covered"), [
    ("ce.example.com", "ce.example.com", True),
    ("ce.example.com.", "CE.EXAMPLE.COM", True),
    ("*.example.com", "ce.example.com", True),
    ("*.example.com", "example.com", False),
    ("*.example.com", "a.ce.example.com", False),
    ("*.com", "example.com", False),  # no wildcard over a whole public suffix
    ("c*.example.com", "ce.example.com", False),  # partial-label wildcards are not honoured
    ("ce.example.com", "ce.example.org", False),
])
def test_one_label_wildcard_matching(pattern: str, host: str, covered: bool) -> None:
    assert ui_certificate.covers(pattern, host) is covered


def test_the_adopted_primary_is_only_registered_as_a_target() -> None:
    result = run(stacks.migrate(loadBalancer="internal"))
    naming = sorted((r.typ, r.name) for r in result.resources if r.custom and PRIMARY in repr(r.inputs))
    assert naming == [("aws:ec2/amiFromInstance:AmiFromInstance", "ce-1-backup"), (ATTACHMENT, "ce-lb-ce-1")]
    assert result.named("ce-lb-ce-1").inputs["targetId"] == PRIMARY
