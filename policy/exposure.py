"""How far a list of source CIDRs opens a port to the internet: one rule for the settings and the pack.

Owns: which IPv4 ranges count as not public, how many public addresses a list of CIDRs reaches
(overlaps and neighbours merged, so ``0.0.0.0/1`` + ``128.0.0.0/1`` counts as the whole internet),
the widest public opening allowed (a /16), and the problems of a CIDR list as plain sentences:
not a CIDR, IPv6 (the program's rules are IPv4 only), a duplicate, public wider than a /16 alone
or together. ``components/settings.py`` prefixes them with the setting's key; ``rules.py`` with the
resource.

Must not touch: anything outside the standard library (the pack's virtualenv has no project
packages, and this file is imported as ``exposure`` there and as ``policy.exposure`` elsewhere).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Sequence

#: the widest public range one port may be opened to, alone or as the union of its sources
MAX_PUBLIC_PREFIX = 16
MAX_PUBLIC_ADDRESSES = 2 ** (32 - MAX_PUBLIC_PREFIX)

#: IPv4 sources that are not on the public internet (IANA special-purpose registry, RFC 6890):
#: private networks (RFC 1918), carrier-grade NAT (RFC 6598), loopback, link-local, "this network",
#: IETF protocol assignments, documentation (TEST-NET-1..3), benchmarking and the reserved 240/4.
#: Multicast (224/4) stays counted as public: it is never a source peers connect from, and counting it
#: keeps the measure on the safe side.
NON_PUBLIC_V4: tuple[ipaddress.IPv4Network, ...] = tuple(ipaddress.IPv4Network(net) for net in (
    "0.0.0.0/8", "10.0.0.0/8", "100.64.0.0/10", "127.0.0.0/8", "169.254.0.0/16", "172.16.0.0/12",
    "192.0.0.0/24", "192.0.2.0/24", "192.168.0.0/16", "198.18.0.0/15", "198.51.100.0/24", "203.0.113.0/24",
    "240.0.0.0/4",
))


def public_addresses(networks: Iterable[ipaddress.IPv4Network]) -> int:
    """How many public IPv4 addresses the networks reach together (overlaps counted once)."""
    total = 0
    for net in ipaddress.collapse_addresses(networks):
        hidden = 0
        for private in NON_PUBLIC_V4:
            if private.subnet_of(net):
                hidden += private.num_addresses
            elif net.subnet_of(private):
                hidden += net.num_addresses
        total += net.num_addresses - hidden
    return total


def _width(addresses: int) -> str:
    """A public address count as the prefix of the smallest network holding that many addresses."""
    return f"/{32 - (addresses - 1).bit_length()}"


def single_problem(cidr: str, *, allow_public: bool = False, what: str = "this port",
                   hint: str = "list narrower ranges") -> str | None:
    """What is wrong with one source CIDR on its own: not a CIDR, IPv6, or public and wider than a /16."""
    try:
        net = ipaddress.ip_network(str(cidr).strip(), strict=True)
    except ValueError:
        return f"{cidr!r} is not a CIDR like 203.0.113.0/24 (host bits must be zero)"
    if net.version == 6:
        return f"{net} is IPv6; the security group rules are IPv4 only: list IPv4 ranges"
    if allow_public:
        return None
    if net.prefixlen == 0:
        return f"{net} opens {what} to the whole internet; {hint}"
    if public_addresses([ipaddress.IPv4Network(net)]) > MAX_PUBLIC_ADDRESSES:
        return f"{net} opens {what} to more public addresses than a /{MAX_PUBLIC_PREFIX}; {hint}"
    return None


def union_problem(cidrs: Iterable[str], *, what: str = "this port", hint: str = "list narrower ranges") -> str | None:
    """Public ranges each within a /16 that together reach more than a /16 (``cidrs`` already fine alone)."""
    networks = [ipaddress.IPv4Network(str(c).strip()) for c in cidrs]
    together = public_addresses(networks)
    if together <= MAX_PUBLIC_ADDRESSES:
        return None
    return (f"together the ranges open {what} to {together} public addresses (about a {_width(together)}), "
            f"more than a /{MAX_PUBLIC_PREFIX}; {hint}")


def cidr_problems(cidrs: Sequence[str], *, allow_public: bool = False, what: str = "this port",
                  hint: str = "list narrower ranges") -> list[str]:
    """Sentences for each problem of a source CIDR list; empty when the list is fine.

    ``what`` names what the list opens (``SSH``), ``hint`` says how to narrow it. ``allow_public``
    lifts the width limit only (an explicit, documented choice such as a public UI); malformed
    entries, IPv6 and duplicates are refused regardless.
    """
    problems: list[str] = []
    fine: list[str] = []
    seen: set[str] = set()
    for cidr in cidrs:
        problem = single_problem(cidr, allow_public=allow_public, what=what, hint=hint)
        if problem is None:
            if str(ipaddress.ip_network(cidr.strip())) in seen:
                problems.append(f"lists {cidr.strip()} twice; list each range once")
                continue
            seen.add(str(ipaddress.ip_network(cidr.strip())))
            fine.append(cidr)
        else:
            problems.append(problem)
    if not allow_public and not problems:
        union = union_problem(fine, what=what, hint=hint)
        problems += [union] if union else []
    return problems
