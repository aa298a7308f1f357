"""Property: any invalid stack config ends in one clear settings error and declares nothing."""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from offline import harness
from tests.unit import stacks

#: characters CE refuses (docs/ce-facts.md §1.3) and control characters its prompt drops
PASSWORD_BREAKERS = ["\\", "/", "'", '"', " ", "\n", "\r", "\t", "\x00", "\x7f"]
JWT_BREAKERS = [*PASSWORD_BREAKERS, "?", "&"]
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
    ("maintenancePassword", st.builds(lambda a, c, b: "Zq9Xv" + a + c + b, junk, st.sampled_from(PASSWORD_BREAKERS), junk)),
    ("jwtSecret", st.builds(lambda a, c, b: "Wk4Yp" + a + c + b, junk, st.sampled_from(JWT_BREAKERS), junk)),
    ("uiPort", st.one_of(st.integers(-100, 0), st.integers(65536, 10**6), st.sampled_from([8000, 22, 2049, 27017, 5672, 4369]))),
    ("sshCidrs", st.sampled_from([["0.0.0.0/0"], ["0.0.0.0/1", "128.0.0.0/1"], ["52.0.0.0/16", "52.2.0.0/16"], ["2001:db8::/32"],
                                  ["10.0.0.0/8", "10.0.0.0/8"], ["52.0.0.0/15"]])),
    ("uiCidrs", st.sampled_from([["0.0.0.0/0"], ["64.0.0.0/2"], ["::/0"], ["198.51.100.0/24", "198.51.100.0/24"]])),
    ("sharedDir", st.sampled_from(["/", "/etc", "/var/lib/ce", "/home/ubuntu", "/tmp/x", "/usr/local", "/opt",
                                   "/opt/ta_cloud_exchange", "/opt/ta_cloud_exchange/data", "/opt/cloud-exchange-ha", "/mnt/../etc"])),
    ("proxyUrl", st.sampled_from(["http://proxy.example:http", "http://proxy.example:99999", "http://proxy.example:0", "proxy:3128"])),
    ("ceRepoUrl", st.sampled_from(["https://u:p@git.example/ce.git", "https://token@github.com/o/r.git", "-oProxyCommand@x:y",
                                   "--upload-pack=id"])),
    ("pipIndexUrl", st.sampled_from(["https://__token__:t@pypi.example/simple", "--index-url=https://x", "ftp://x"])),
    ("dockerRepoUrl", st.sampled_from(["https://u:p@mirror.example/docker", "-https://mirror.example"])),
    ("tags", st.sampled_from([["aws:x=y"], ["k" * 129 + "=v"], ["Owner=" + "v" * 257], [f"K{i}=v" for i in range(49)], ["Owner"]])),
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
