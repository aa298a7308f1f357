#!/usr/bin/env bash
# Installs, on a fresh Debian 12 machine, every apt package that the real-host test lab
# (tests/hosts/lab) needs on the machine itself. Idempotent: installs only what is missing.
# Must run as root (so must the lab).
set -euo pipefail

PKGS=(
  debootstrap            # builds the golden bookworm image
  debian-archive-keyring # debootstrap checks the Release signature with it
  gpgv
  systemd-container      # systemd-nspawn boots the hosts
  iproute2               # ip netns / bridge / veth
  util-linux             # nsenter, mount, umount
  dpkg-dev               # dpkg-scanpackages for the local apt mirror (dpkg-deb comes with dpkg)
  openssh-client         # ssh-keygen for the lab's key pair
  python3                # http server in the infra namespace, helper scripts
  git                    # tests publish a bare repo over dumb http
  ca-certificates
)

if [[ ${EUID} -ne 0 ]]; then
  echo "hosts-deps.sh: must run as root" >&2
  exit 1
fi

missing=()
for pkg in "${PKGS[@]}"; do
  if ! dpkg-query -W -f='${Status}\n' "${pkg}" 2>/dev/null | grep -q '^install ok installed$'; then
    missing+=("${pkg}")
  fi
done

if ((${#missing[@]} > 0)); then
  echo "hosts-deps.sh: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
else
  echo "hosts-deps.sh: all ${#PKGS[@]} packages already installed"
fi

for tool in debootstrap systemd-nspawn ip nsenter dpkg-scanpackages dpkg-deb ssh-keygen; do
  command -v "${tool}" >/dev/null || { echo "hosts-deps.sh: ${tool} still missing" >&2; exit 1; }
done
