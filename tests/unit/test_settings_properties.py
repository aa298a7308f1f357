"""Property: any invalid stack config ends in one clear settings error and declares nothing."""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from components import settings as s
from offline import harness
from tests.unit import stacks

# Each breaker turns a valid config invalid in one way and names the key that must be blamed.
junk = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=["Cs"]), min_size=0, max_size=12)
BREAKERS: list[tuple[str, Any]] = [
    ("mode", junk.filter(lambda v: v not in ("migrate", "greenfield"))),
    ("primaryInstanceId", junk.filter(lambda v: v == "" or not v.startswith("i-"))),
    ("vpcId", junk.filter(lambda v: not v.startswith("vpc-"))),
    ("nodeCount", st.one_of(st.integers(-5, 2), st.integers(8, 99), st.sampled_from([4, 6]))),
    ("instanceType", st.sampled_from(["t3.micro", "m5.large", "m5.xlarge", "c5.9xlarge", "r5.8xlarge", "x"])),
    ("rootVolumeSizeGb", st.integers(1, 79)),
    ("ceVersion", st.one_of(st.sampled_from(["v4.2.0", "v5.0.1", "v5.1.0", "v9.0.0"]), junk.filter(lambda v: "." not in v))),
    ("maintenancePassword", st.builds(lambda a, c, b: "Zq9Xv" + a + c + b, junk, st.sampled_from(s.FORBIDDEN_IN_PASSWORD), junk)),
    ("jwtSecret", st.builds(lambda a, c, b: "Wk4Yp" + a + c + b, junk, st.sampled_from(s.FORBIDDEN_IN_JWT), junk)),
    ("uiPort", st.one_of(st.integers(-100, 0), st.integers(65536, 10**6), st.just(8000))),
    ("sshCidrs", st.just(["0.0.0.0/0"])),
    ("sshUser", st.sampled_from(["Root", "a b", "9lives", ""])),
    ("tenantUrl", st.sampled_from(["http://x.goskope.com", "demo", "https://x.goskope.com/path"])),
    ("tls12", junk.filter(lambda v: v.strip().lower() not in ("true", "false"))),
]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.sampled_from(range(len(BREAKERS))), min_size=1, max_size=3, unique=True), st.data())
def test_random_invalid_configs_fail_clearly_before_any_resource(which: list[int], data: st.DataObject) -> None:
    config = stacks.migrate()
    blamed = set()
    for index in which:
        key, strategy = BREAKERS[index]
        value = data.draw(strategy)
        config[key] = value if not isinstance(value, int) else str(value)
        blamed.add(key)
    run = harness.run(config, secret_keys=stacks.SECRET_KEYS)
    assert run.error is not None, f"accepted {config}"
    assert run.resources == [], "a resource was declared despite bad settings"
    assert "Traceback" not in run.error
    named = {line.split(":", 2)[1] for line in run.error.splitlines() if line.startswith("  - cloud-exchange-ha:")}
    # a broken mode hides the mode-dependent primaryInstanceId rule; every other broken key is named
    expected = blamed - ({"primaryInstanceId"} if "mode" in blamed else set())
    assert expected <= named, (expected - named, run.error)
    for secret in (config["maintenancePassword"], config["jwtSecret"]):
        assert secret not in run.error
