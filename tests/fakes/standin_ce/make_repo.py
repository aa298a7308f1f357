# TEST DOUBLE of Netskope Cloud Exchange (stand-in for tests): not CE, contains no CE code.
"""Build the stand-in CE git repository that tests clone instead of netskopeoss/ta_cloud_exchange.

``make_repo(dest_dir) -> path of a bare repository`` with branch ``main`` and annotated tags
``v4.2.0`` (pre-HA), ``v5.1.0`` (opens with the version menu), ``v5.1.1`` and ``v5.1.2`` (HEAD of
``main``), plus ``v6.0.1`` and ``v6.1.0`` (config-driven 6.x setup, GlusterFS) on branch ``release-6.x``,
one and two commits after ``v5.1.2`` (``main`` stays at 5.1.2 so that clones without a tag keep getting
the 5.x flow). Releases before 5.1.2 also carry the tag as CE spells it, without its ``v`` (``5.1.1``:
docs/ce-facts.md; the program asks for that spelling).
The trees differ only in ``standin/version.py``; the content is ``ce_repo/`` next to this file.
The bare repository has ``git update-server-info`` run, so it can be served over dumb HTTP
(``python3 -m http.server``) as well as cloned by path. Builds are reproducible (fixed dates).

CLI: ``python3 make_repo.py DEST_DIR`` prints the bare repository's path.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

CONTENT_DIR = Path(__file__).resolve().parent / "ce_repo"
REPO_NAME = "ta_cloud_exchange.git"
#: oldest first: the order of the commits on ``main``
VERSIONS: Sequence[str] = ("4.2.0", "5.1.0", "5.1.1", "5.1.2")
#: (version, branch): committed on top of the last of VERSIONS on their own branch
BRANCH_VERSIONS: Sequence[tuple[str, str]] = (("6.0.1", "release-6.x"), ("6.1.0", "release-6.x"))
#: CE's own tags have no leading ``v`` before 5.1.2 (``5.1.1``); those releases get that spelling as well
UNPREFIXED_BEFORE = (5, 1, 2)
EXECUTABLES = (
    "setup", "start", "stop", "replica_set", "start_management_server",
    "standin-install-standalone", "standin-install-gluster",
)  # fmt: skip
MARKER = "TEST DOUBLE of Netskope Cloud Exchange"
VERSION_FILE = Path("standin") / "version.py"


def _git_env(index: int) -> dict[str, str]:
    date = f"2024-01-{index + 1:02d}T12:00:00+00:00"
    env = {key: value for key, value in os.environ.items() if not key.startswith("GIT_")}
    env.update(
        GIT_CONFIG_GLOBAL=os.devnull,
        GIT_CONFIG_NOSYSTEM="1",
        GIT_AUTHOR_NAME="Stand-in CE",
        GIT_AUTHOR_EMAIL="standin-ce@example.invalid",
        GIT_COMMITTER_NAME="Stand-in CE",
        GIT_COMMITTER_EMAIL="standin-ce@example.invalid",
        GIT_AUTHOR_DATE=date,
        GIT_COMMITTER_DATE=date,
    )
    return env


def _git(args: Sequence[str], cwd: Path, index: int = 0) -> str:
    result = subprocess.run(["git", *args], cwd=cwd, env=_git_env(index), capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise RuntimeError(f"git {' '.join(args)} failed in {cwd}: {result.stderr.strip()}")
    return result.stdout


def _is_generated(relative: Path) -> bool:
    """What running the stand-in inside ce_repo/ itself would leave behind (its .gitignore)."""
    text = relative.as_posix()
    return (
        "__pycache__" in relative.parts
        or relative.suffix == ".pyc"
        or (relative.name.startswith(".env") and relative.name != ".env.example")
        or relative.name.endswith("-compose-ha.yml")
        or relative.name.startswith("cte_cert")
        or relative.name == "cloudexchange.config"
        or (text.startswith("data/ssl_certs/mongodb_rabbitmq_certs/") and relative.name.startswith("tls_"))
        or text.startswith(("data/standin/", "data/mongo-data/", "data/ce_env_backups/", "data/custom_plugins/", "data/plugins/"))
        or text.startswith(("data/repos/", ".cevenv/"))
    )


def _copy_content(work: Path) -> None:
    for source in sorted(CONTENT_DIR.rglob("*")):
        relative = source.relative_to(CONTENT_DIR)
        if source.is_dir() or _is_generated(relative):
            continue
        target = work / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, target)
        target.chmod(0o755 if relative.as_posix() in EXECUTABLES else 0o644)


def _version_text(version: str) -> str:
    original = (CONTENT_DIR / VERSION_FILE).read_text(encoding="utf-8")
    lines = [f'CE_VERSION = "{version}"' if line.startswith("CE_VERSION = ") else line for line in original.splitlines()]
    if lines == original.splitlines() and f'CE_VERSION = "{version}"' not in original:
        raise RuntimeError(f"{VERSION_FILE} has no CE_VERSION line to rewrite")
    return "\n".join(lines) + "\n"


def make_repo(dest_dir: str | os.PathLike[str]) -> str:
    """Create ``<dest_dir>/ta_cloud_exchange.git`` and return its path."""
    dest = Path(dest_dir).resolve()
    dest.mkdir(parents=True, exist_ok=True)
    bare = dest / REPO_NAME
    if bare.exists():
        raise FileExistsError(f"{bare} already exists")
    with tempfile.TemporaryDirectory(prefix="standin-ce-") as tmp:
        work = Path(tmp) / "work"
        work.mkdir()
        _git(["init", "--quiet", "--template=", "--initial-branch=main"], work)
        _copy_content(work)
        for index, version in enumerate(VERSIONS):
            (work / VERSION_FILE).write_text(_version_text(version), encoding="utf-8")
            _git(["add", "--all"], work, index)
            _git(["commit", "--quiet", "--no-verify", "-m", f"Stand-in CE {version} (test double)"], work, index)
            _git(["tag", "-a", f"v{version}", "-m", f"Stand-in CE v{version} (test double)"], work, index)
            if tuple(int(part) for part in version.split(".")) < UNPREFIXED_BEFORE:
                _git(["tag", "-a", version, "-m", f"Stand-in CE {version} (test double)"], work, index)
        branches: set[str] = set()
        for offset, (version, branch) in enumerate(BRANCH_VERSIONS, start=len(VERSIONS)):
            if branch not in branches:
                _git(["checkout", "--quiet", "-b", branch, f"v{VERSIONS[-1]}"], work, offset)
                branches.add(branch)
            else:
                _git(["checkout", "--quiet", branch], work, offset)
            (work / VERSION_FILE).write_text(_version_text(version), encoding="utf-8")
            _git(["commit", "--quiet", "--no-verify", "-am", f"Stand-in CE {version} (test double)"], work, offset)
            _git(["tag", "-a", f"v{version}", "-m", f"Stand-in CE v{version} (test double)"], work, offset)
            _git(["checkout", "--quiet", "main"], work, offset)
        _git(["clone", "--quiet", "--bare", "--template=", str(work), str(bare)], Path(tmp))
    _git(["repack", "--quiet", "-a", "-d"], bare)
    _git(["update-server-info"], bare)
    return str(bare)


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: make_repo.py DEST_DIR")
    print(make_repo(sys.argv[1]))
