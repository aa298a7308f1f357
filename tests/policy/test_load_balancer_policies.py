"""The load balancer policies (issue 16): internal unless asked, the UI port only, health checked."""

from __future__ import annotations

from typing import Any

import pytest

from offline import harness, policies
from policy import rules
from tests.policy.test_policies import validate_resource
from tests.unit import stacks

LB = "aws:lb/loadBalancer:LoadBalancer"
LISTENER = "aws:lb/listener:Listener"
TARGET_GROUP = "aws:lb/targetGroup:TargetGroup"


def health(**more: Any) -> dict[str, Any]:
    check: dict[str, Any] = {"enabled": True, "protocol": "HTTPS", "port": "traffic-port", "path": "/", "interval": 10.0}
    check.update(more)
    return {"port": 443.0, "protocol": "TCP", "targetType": "instance", "healthCheck": check}


# ---- ce-load-balancer-internal-unless-asked ------------------------------------------------------


@pytest.mark.parametrize("typ", [LB, "aws:alb/loadBalancer:LoadBalancer"])
@pytest.mark.parametrize("internal", [False, None])
@pytest.mark.parametrize("scheme", ["none", "internal"])
def test_internet_facing_balancer_is_refused_unless_the_stack_says_so(typ: str, internal: bool | None, scheme: str) -> None:
    props = {"loadBalancerType": "network"} if internal is None else {"loadBalancerType": "network", "internal": internal}
    (message,) = rules.check_load_balancer_scheme(typ, props, scheme)
    assert f"stack's loadBalancer is '{scheme}'" in message and "internet-facing" in message


def test_internet_facing_balancer_passes_when_asked_and_internal_always() -> None:
    assert rules.check_load_balancer_scheme(LB, {"internal": False}, "internet-facing") == []
    assert rules.check_load_balancer_scheme(LB, {"internal": True}, "none") == []
    assert rules.check_load_balancer_scheme(LB, {"internal": rules.UNKNOWN}, "none") == []
    assert rules.check_load_balancer_scheme(TARGET_GROUP, {"internal": False}, "none") == []


def test_scheme_adapter_reads_load_balancer_from_the_stack_config() -> None:
    public = {"loadBalancerType": "network", "internal": False}
    assert len(validate_resource(rules.LB_SCHEME, LB, public, config={})) == 1
    assert len(validate_resource(rules.LB_SCHEME, LB, public, config={"loadBalancer": "internal"})) == 1
    assert validate_resource(rules.LB_SCHEME, LB, public, config={"loadBalancer": "internet-facing"}) == []


# ---- ce-load-balancer-ui-port-only --------------------------------------------------------------


def test_listener_on_the_ui_port_as_tcp_passes() -> None:
    assert rules.check_listener_ui_port(LISTENER, {"port": 443.0, "protocol": "TCP"}, 443) == []
    assert rules.check_listener_ui_port(LISTENER, {"port": 8443.0, "protocol": "TCP"}, 8443) == []
    assert rules.check_listener_ui_port(LISTENER, {"port": rules.UNKNOWN, "protocol": rules.UNKNOWN}, 443) == []


@pytest.mark.parametrize(("props", "ui_port", "words"), [
    ({"port": 80.0, "protocol": "TCP"}, 443, "listens on port 80; the load balancer forwards only the CE UI port 443"),
    ({"port": 443.0, "protocol": "TCP"}, 8443, "forwards only the CE UI port 8443 (uiPort)"),
    ({"port": 443.0, "protocol": "TLS"}, 443, "protocol is 'TLS'; the UI passes through as TCP"),
])
def test_listener_elsewhere_or_terminating_tls_is_refused(props: dict[str, Any], ui_port: int, words: str) -> None:
    (message,) = rules.check_listener_ui_port(LISTENER, props, ui_port)
    assert words in message


def test_listener_adapter_reads_ui_port_from_the_stack_config() -> None:
    on_8443 = {"port": 8443.0, "protocol": "TCP"}
    assert len(validate_resource(rules.LB_LISTENER, LISTENER, on_8443, config={})) == 1  # default uiPort 443
    assert validate_resource(rules.LB_LISTENER, LISTENER, on_8443, config={"uiPort": "8443"}) == []


# ---- ce-load-balancer-health-checked --------------------------------------------------------------


@pytest.mark.parametrize("protocol", ["HTTPS", "HTTP"])
def test_http_health_check_passes(protocol: str) -> None:
    assert rules.check_health_checked(TARGET_GROUP, health(protocol=protocol)) == []
    assert rules.check_health_checked(TARGET_GROUP, {"healthCheck": rules.UNKNOWN}) == []


@pytest.mark.parametrize(("props", "words"), [
    ({"port": 443.0, "protocol": "TCP"}, "has no health check"),
    (health(enabled=False), "has no health check"),
    (health(protocol="TCP"), "health check protocol is 'TCP'"),
])
def test_missing_or_port_only_health_check_is_refused(props: dict[str, Any], words: str) -> None:
    (message,) = rules.check_health_checked(TARGET_GROUP, props)
    assert words in message
    assert validate_resource(rules.LB_HEALTH, TARGET_GROUP, props) == [message]


# ---- the program's own graphs -----------------------------------------------------------------------


@pytest.mark.parametrize("config", [
    stacks.migrate(loadBalancer="internal"),
    stacks.greenfield(loadBalancer="internal", uiPort=8443, ceVersion="v6.1.0"),
    stacks.greenfield(loadBalancer="internal", uiDnsName="ce.example.com", hostedZoneId="Z0123456789ABCDEFGHIJ"),
], ids=["migrate-internal", "greenfield-6x-8443", "greenfield-dns"])
def test_the_programs_balancers_keep_every_policy(config: dict[str, Any]) -> None:
    run = harness.run(config, secret_keys=stacks.SECRET_KEYS)
    assert run.error is None, run.error
    assert policies.check_run(run, config) == []


def test_the_program_with_an_internal_balancer_judged_as_public_is_refused() -> None:
    config = stacks.migrate(loadBalancer="internal")
    run = harness.run(config, secret_keys=stacks.SECRET_KEYS)
    assert policies.check_run(run, {**config, "uiPort": 8443}) == [rules.Violation(
        rules.LB_LISTENER, "ce-lb-ui", "listens on port 443; the load balancer forwards only the CE UI port 8443 (uiPort)")]
