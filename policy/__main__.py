"""The cloud-exchange-ha CrossGuard pack: ``pulumi preview --policy-pack policy`` (see docs/policy.md).

The policy host runs this file as a script from this folder; the policies themselves are in
``pack.py`` (adapters) and ``rules.py`` (plain checks, shared with the offline plan).
"""

from __future__ import annotations

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import pack  # noqa: E402 - after the path fix above
import rules  # noqa: E402
from pulumi_policy import EnforcementLevel, PolicyPack  # noqa: E402

if __name__ == "__main__":
    PolicyPack(
        name=rules.PACK_NAME,
        policies=pack.policies(),
        enforcement_level=EnforcementLevel.MANDATORY,
        description="Guard rails of cloud-exchange-ha (Netskope CE HA on AWS): protected backups and shared data, the adopted "
                    "primary never managed, IMDSv2, encryption, no public SSH, no public source wider than a /16, cluster ports "
                    "between members only, no secrets in command strings or user data",
    )
