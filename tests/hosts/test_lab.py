"""The lab is what it claims: SSH without a PTY, sudo, names, a closed private network, the local
apt mirror and pip index, the shared folder, Docker with Compose v2 under systemd, clean teardown."""

from __future__ import annotations

import ipaddress
import json
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.hosts import lab as labpkg
from tests.hosts.lab import CommandTimeout, Host, Lab, LabConfig, LabError
from tests.hosts.lab import net as labnet
from tests.hosts.lab._util import proc_starttime

pytestmark = pytest.mark.hosts

PINS = "'pyyaml>=6.0.0' 'python-dotenv>=0.20.0,<=1.0.0' 'pymongo>=4.6.3,<=4.7.3'"
APT = "sudo DEBIAN_FRONTEND=noninteractive apt-get -q -y"


@pytest.fixture(scope="module")
def work_host(lab: Lab) -> Iterator[Host]:
    """One extra host for the tests that install things, so ce-1..3 stay as booted."""
    host = lab.add_host("lab-check")
    try:
        rc, out, err = host.run(f"{APT} update", timeout=120)
        assert rc == 0, out + err
        yield host
    finally:
        lab.remove_host("lab-check")


# -- SSH, sudo, identity -----------------------------------------------------------------------


def test_ssh_as_ubuntu_without_pty(lab: Lab) -> None:
    assert [h.name for h in lab] == ["ce-1", "ce-2", "ce-3"]
    for host in lab:
        rc, out, err = host.run("tty; echo rc=$?; id -un; echo $SSH_TTY")
        assert rc == 0, err
        assert out.splitlines() == ["not a tty", "rc=1", "ubuntu", ""]


def test_run_passes_stdin_exit_code_and_stderr(lab: Lab) -> None:
    host = lab["ce-1"]
    assert host.run("cat", stdin="line 1\nline 2\n") == (0, "line 1\nline 2\n", "")
    assert host.run("cat")[0:2] == (0, "")  # no stdin = EOF at once, like remote.Command
    assert host.run("echo out; echo err >&2; exit 7") == (7, "out\n", "err\n")
    big = "x" * 3_000_000
    rc, out, _ = host.run("wc -c", stdin=big)
    assert (rc, out.strip()) == (0, str(len(big)))
    with pytest.raises(CommandTimeout):
        host.run("sleep 5", timeout=0.5)


def test_put_and_get_over_sftp(lab: Lab, tmp_path: Path) -> None:
    host = lab["ce-2"]
    host.put(b"#!/bin/sh\necho hi from $(hostname)\n", "/tmp/hi.sh", mode=0o755)
    assert host.run("/tmp/hi.sh") == (0, "hi from ce-2\n", "")
    local = tmp_path / "f.txt"
    local.write_text("from a path\n")
    host.put(local, "/home/ubuntu/f.txt")
    assert host.get("/home/ubuntu/f.txt") == b"from a path\n"
    assert host.run("stat -c %U /home/ubuntu/f.txt")[1] == "ubuntu\n"


def test_passwordless_sudo(lab: Lab) -> None:
    for host in lab:
        assert host.run("sudo -n id -u") == (0, "0\n", "")


def test_hostnames_and_addresses(lab: Lab) -> None:
    net = ipaddress.IPv4Network(lab.config.subnet)
    for host in lab:
        assert host.run("hostname")[1].strip() == host.name
        assert host.run("cat /etc/hostname")[1].strip() == host.name
        assert ipaddress.IPv4Address(host.ip) in net
        rc, out, _ = host.run("ip -4 -o addr show dev eth0")
        assert rc == 0 and f"inet {host.ip}/{net.prefixlen}" in out
    assert len({h.ip for h in lab}) == 3


def test_host_keys_are_generated_per_host(lab: Lab) -> None:
    keys = {h.run("cat /etc/ssh/ssh_host_ed25519_key.pub")[1].split()[1] for h in lab}
    assert len(keys) == 3
    assert lab.known_hosts_path.read_text().count("ssh-ed25519") >= 3


# -- network -----------------------------------------------------------------------------------

LISTENER = """\
import socket, sys
srv = socket.create_server(("0.0.0.0", 7070))
srv.settimeout(60)
for _ in range(int(sys.argv[1])):
    conn, _ = srv.accept()
    conn.sendall(socket.gethostname().encode())
    conn.close()
"""

CLIENT = """\
import socket, sys, time
for ip in sys.argv[1:]:
    for attempt in range(50):
        try:
            with socket.create_connection((ip, 7070), timeout=5) as c:
                print(ip, c.recv(100).decode())
            break
        except ConnectionRefusedError:
            time.sleep(0.1)
    else:
        print(ip, "REFUSED")
"""


def test_every_host_reaches_every_peer_over_tcp(lab: Lab) -> None:
    hosts = list(lab)
    for host in hosts:
        host.put(LISTENER.encode(), "/tmp/listen.py")
        host.put(CLIENT.encode(), "/tmp/client.py")
        rc, out, err = host.run(f"nohup python3 /tmp/listen.py {len(hosts) - 1} >/tmp/listen.log 2>&1 &")
        assert rc == 0, err
    for host in hosts:
        peers = [p for p in hosts if p is not host]
        rc, out, err = host.run("python3 /tmp/client.py " + " ".join(p.ip for p in peers), timeout=60)
        assert rc == 0, err
        assert sorted(out.splitlines()) == sorted(f"{p.ip} {p.name}" for p in peers)


def test_no_default_route_in_any_namespace(lab: Lab) -> None:
    assert len(lab.namespaces) == 4
    for ns in lab.namespaces:
        assert labnet.default_routes(ns) == [], ns
    for host in lab:
        assert host.run("ip -4 route show default; ip -6 route show default") == (0, "", "")
        assert host.run("ip -4 route")[1].split() == f"{lab.config.subnet} dev eth0 proto kernel scope link src {host.ip}".split()
    # and nothing of the lab in the machine's own namespace
    root_routes = subprocess.run(["ip", "-4", "route"], capture_output=True, text=True, check=True).stdout
    assert lab.config.subnet.split("/")[0] not in root_routes


UNREACHABLE = """\
import errno, socket, sys, time
for ip in sys.argv[1:]:
    t0 = time.monotonic()
    try:
        socket.create_connection((ip, 80), timeout=10).close()
        print(ip, "CONNECTED")
    except OSError as exc:
        print(ip, errno.errorcode.get(exc.errno, exc), round(time.monotonic() - t0, 3))
"""


def test_outside_addresses_are_unreachable_at_once(lab: Lab) -> None:
    # No packet leaves: without a default route the kernel refuses the connect() itself.
    targets = ["192.0.2.1", "10.0.0.1"]
    for host in lab:
        host.put(UNREACHABLE.encode(), "/tmp/unreach.py")
        rc, out, err = host.run("python3 /tmp/unreach.py " + " ".join(targets))
        assert rc == 0, err
        for line, ip in zip(out.splitlines(), targets, strict=True):
            got_ip, code, seconds = line.split()
            assert (got_ip, code) == (ip, "ENETUNREACH"), line
            assert float(seconds) < 0.5
    proc = lab.infra_run(["python3", "-c", UNREACHABLE, *targets])
    assert [ln.split()[1] for ln in proc.stdout.decode().splitlines()] == ["ENETUNREACH", "ENETUNREACH"]


# -- shared folder -----------------------------------------------------------------------------


def test_shared_folder_is_the_same_on_all_hosts(lab: Lab) -> None:
    mount = lab.config.shared_mount
    token = uuid.uuid4().hex
    writer, *readers = list(lab)
    rc, _, err = writer.run(f"sudo mkdir -p {mount}/t && echo {token} | sudo tee {mount}/t/{token} >/dev/null")
    assert rc == 0, err
    for host in readers:
        assert host.run(f"cat {mount}/t/{token}") == (0, token + "\n", "")
    assert (lab.shared_dir / "t" / token).read_text() == token + "\n"
    rc, _, err = readers[0].run(f"sudo rm {mount}/t/{token}")
    assert rc == 0, err
    assert writer.run(f"test -e {mount}/t/{token}")[0] == 1


# -- apt mirror, pip index, serve_dir ----------------------------------------------------------


def test_only_the_lab_mirror_is_an_apt_source(lab: Lab) -> None:
    for host in lab:
        rc, out, _ = host.run("cat /etc/apt/sources.list /etc/apt/sources.list.d/* 2>/dev/null | grep -v '^#' | grep .")
        assert out.splitlines() == [lab.apt_source_line.strip()]
        assert host.run("ls /etc/apt/sources.list.d/")[1].split() == ["ce-ha-lab.list"]


def test_apt_install_from_the_mirror(work_host: Host, lab: Lab) -> None:
    rc, out, err = work_host.run(f"{APT} install zip git", timeout=300)
    assert rc == 0, out + err
    assert work_host.run("zip -v | head -2")[0] == 0
    rc, out, _ = work_host.run("apt-cache policy zip")
    assert lab.apt_url in out


def test_serve_dir_publishes_a_git_repo_over_dumb_http(work_host: Host, lab: Lab, tmp_path: Path) -> None:
    work = tmp_path / "work"
    bare = tmp_path / "ce.git"
    git = ["git", "-c", "user.name=lab", "-c", "user.email=lab@localhost", "-c", "init.defaultBranch=main"]
    subprocess.run([*git, "init", "-q", work], check=True)
    (work / "setup").write_text("#!/bin/sh\necho setup\n")
    subprocess.run([*git, "-C", work, "add", "setup"], check=True)
    subprocess.run([*git, "-C", work, "commit", "-qm", "init"], check=True)
    subprocess.run([*git, "clone", "-q", "--bare", work, bare], check=True)
    subprocess.run(["git", "-C", bare, "update-server-info"], check=True)
    url = lab.serve_dir(bare, "ce.git")
    assert work_host.run("command -v git")[0] == 0 or work_host.run(f"{APT} install git", timeout=300)[0] == 0
    rc, out, err = work_host.run(f"git clone -q {url} /tmp/ce && cat /tmp/ce/setup", timeout=60)
    assert (rc, out) == (0, "#!/bin/sh\necho setup\n"), err


def test_pip_installs_the_pins_from_the_wheelhouse(work_host: Host) -> None:
    rc, out, err = work_host.run(f"{APT} install python3-pip", timeout=300)
    assert rc == 0, out + err
    rc, out, err = work_host.run(f"sudo pip3 install {PINS}")
    assert rc != 0 and "externally-managed-environment" in out + err  # Debian 12 = PEP 668
    rc, out, err = work_host.run(f"sudo pip3 install --break-system-packages {PINS}", timeout=300)
    assert rc == 0, out + err
    rc, out, err = work_host.run(
        "python3 -c 'import yaml, dotenv, pymongo, dns; print(yaml.__version__, pymongo.version)'"
    )
    assert rc == 0, err
    yaml_v, pymongo_v = out.split()
    assert yaml_v.startswith("6.") and pymongo_v.startswith("4.")


def test_docker_and_compose_v2_run_under_systemd(work_host: Host) -> None:
    rc, out, err = work_host.run(f"{APT} install docker.io docker-compose-plugin", timeout=600)
    assert rc == 0, out + err
    rc, out, err = work_host.run("docker compose version")
    assert rc == 0 and out.startswith("Docker Compose version v2."), out + err
    deadline = time.monotonic() + 60
    while (state := work_host.run("systemctl is-active docker")[1].strip()) != "active" and time.monotonic() < deadline:
        time.sleep(1)
    assert state == "active", work_host.run("sudo journalctl -u docker --no-pager | tail -30")[1]
    # a real container (image made locally: no registry here) under a memory limit, via compose
    script = (
        "set -e; rm -rf /tmp/img; mkdir -p /tmp/img/rootfs; cp /usr/bin/tini-static /tmp/img/rootfs/;"
        " tar -C /tmp/img/rootfs -c . | sudo docker import - lab/tini >/dev/null;"
        " sudo docker run --rm -m 64m lab/tini /tini-static --version;"
        " printf 'services:\\n  t:\\n    image: lab/tini\\n    command: [\"/tini-static\", \"--version\"]\\n'"
        " > /tmp/img/compose.yml; cd /tmp/img; sudo docker compose run --rm -T t;"
        " sudo docker compose down >/dev/null 2>&1"
    )
    rc, out, err = work_host.run(script, timeout=120)
    assert rc == 0, out + err
    assert out.count("tini version") == 2, out


def test_cgroup_controllers_are_writable(lab: Lab) -> None:
    rc, out, _ = lab["ce-3"].run("grep ' /sys/fs/cgroup' /proc/self/mountinfo")
    assert rc == 0 and out
    ro = [ln for ln in out.splitlines() if ln.split()[5].split(",")[0] == "ro"]
    assert ro == []


# -- lifecycle ---------------------------------------------------------------------------------


def test_fresh_host_gets_next_address_and_goes_away(lab: Lab, fresh_host: Host) -> None:
    assert fresh_host.name in lab.hosts
    assert fresh_host.ip not in {h.ip for h in lab if h is not fresh_host}
    assert fresh_host.run("hostname")[1].strip() == fresh_host.name


def test_a_host_name_and_address_can_be_reused_at_once(lab: Lab) -> None:
    first = lab.add_host("again-1")
    ip = first.ip
    lab.remove_host("again-1")
    t0 = time.monotonic()
    second = lab.add_host("again-1")  # same address, new MAC: no stale neighbour entry may delay it
    try:
        assert second.ip == ip
        assert time.monotonic() - t0 < 15
        assert second.run("hostname") == (0, "again-1\n", "")
    finally:
        lab.remove_host("again-1")


def _leftovers(the_lab: Lab) -> list[str]:
    found = [ns for ns in the_lab.state.netns if labnet.netns_exists(ns)]
    found += [f"netns {p.name}" for p in labnet.NETNS_DIR.glob(f"cehl-{the_lab.lab_id}-*")]
    found += [f"pid {pid}" for pid, start in the_lab.state.procs.values() if proc_starttime(pid) == start]
    with open("/proc/self/mountinfo") as fh:
        found += [ln for ln in fh if str(the_lab.lab_dir) in ln]
    if the_lab.lab_dir.exists():
        found.append(str(the_lab.lab_dir))
    return found


def test_teardown_removes_everything_even_after_a_failed_start(
    lab: Lab, monkeypatch: pytest.MonkeyPatch
) -> None:
    # a second, small lab whose boot fails after network, http server and overlay exist
    def broken_boot(**kwargs: object) -> None:
        raise LabError("boot failed on purpose")

    monkeypatch.setattr(labpkg.lab.nspawn, "boot", broken_boot)
    other = Lab(LabConfig(hosts=("x-1",), subnet="10.213.1.0/24"))
    pids: list[int] = []
    orig_record = other._record_proc

    def record(name: str, proc: subprocess.Popen[bytes]) -> None:
        pids.append(proc.pid)
        orig_record(name, proc)

    monkeypatch.setattr(other, "_record_proc", record)
    with pytest.raises(LabError, match="on purpose"):
        other.start()
    assert pids, "the http server had been started"
    assert _leftovers(other) == []
    assert not any(proc_starttime(p) for p in pids)
    # the session lab is untouched
    assert lab["ce-1"].run("true")[0] == 0


def test_a_whole_lab_starts_and_tears_down_cleanly(lab: Lab) -> None:
    other = Lab(LabConfig(hosts=("y-1",), subnet="10.213.2.0/24"))
    with other:
        assert other["y-1"].run("hostname") == (0, "y-1\n", "")
        assert other["y-1"].ip == "10.213.2.11"
        # separate L2 domains: the session lab's hosts are not reachable from this one
        rc, out, _ = other["y-1"].run(f"python3 /dev/stdin {lab['ce-1'].ip}", stdin=UNREACHABLE)
        assert "ENETUNREACH" in out
        pids = [p for p, _ in other.state.procs.values()]
    assert _leftovers(other) == []
    assert not any(proc_starttime(p) for p in pids)
    assert other.timings["teardown"] < 30


HANGING_UNIT = """\
[Unit]
Description=stands for a service that does not stop
[Service]
Type=oneshot
RemainAfterExit=yes
ExecStart=/bin/true
ExecStop=/bin/sleep 300
TimeoutStopSec=infinity
"""


def test_a_host_that_does_not_power_off_is_killed_with_its_init(lab: Lab) -> None:
    host = lab.add_host("hang-1")
    host.put(HANGING_UNIT.encode(), "/tmp/hang.service")
    rc, _, err = host.run("sudo cp /tmp/hang.service /etc/systemd/system/ && sudo systemctl start hang.service")
    assert rc == 0, err
    nspawn_pid, nspawn_start = lab.state.procs["hang-1"]
    init_pid, init_start = lab.state.procs["hang-1/init"]
    assert proc_starttime(init_pid) == init_start
    t0 = time.monotonic()
    lab.remove_host("hang-1", stop_timeout=1.0)
    assert time.monotonic() - t0 < 15
    assert proc_starttime(init_pid) != init_start, "the host's init must not survive as an orphan"
    assert proc_starttime(nspawn_pid) != nspawn_start
    assert not labnet.netns_exists(host.netns)
    assert not host.dir.exists()


def test_a_lab_left_by_a_killed_run_is_reaped(lab: Lab, tmp_path: Path) -> None:
    # a separate process starts a lab and dies without any teardown (as with kill -9)
    script = (
        "import os, sys, json; sys.path.insert(0, sys.argv[1]);"
        "from lab import Lab, LabConfig;"
        "lab = Lab(LabConfig(hosts=('z-1',), subnet='10.213.3.0/24')).start();"
        "print(json.dumps({'dir': str(lab.lab_dir), 'procs': lab.state.procs, 'netns': lab.namespaces}), flush=True);"
        "os._exit(0)"
    )
    here = str(Path(__file__).resolve().parent)
    proc = subprocess.run([sys.executable, "-c", script, here], capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 0, proc.stderr[-3000:]
    left = json.loads(proc.stdout.strip().splitlines()[-1])
    assert all(proc_starttime(pid) == start for pid, start in left["procs"].values())  # still running
    reaped = labpkg.reap_stale_labs()
    assert left["dir"] in reaped
    assert not Path(left["dir"]).exists()
    assert not any(proc_starttime(pid) == start for pid, start in left["procs"].values())
    assert not any(labnet.netns_exists(ns) for ns in left["netns"])
    assert str(lab.lab_dir) not in reaped and lab["ce-1"].run("true")[0] == 0
