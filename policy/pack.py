"""The CrossGuard policies of cloud-exchange-ha: thin adapters from the policy SDK to ``rules``.

Owns: turning the engine's ``ResourceValidationArgs`` / ``StackValidationArgs`` and the stack's
config into ``rules.Resource`` / ``rules.Context``, and each rule's messages into
``report_violation`` calls. ``__main__.py`` serves ``POLICIES`` as the pack.

Must not touch: what a rule checks (``rules.py``), and the project's ``offline``/``components``
packages (the pack's virtualenv holds only ``policy/requirements.txt``).

The engine runs the pack with the stack's config in ``PULUMI_CONFIG`` (secrets decrypted), which
the policy SDK loads into ``pulumi.Config`` before each analysis: that is where the primary's id,
the CE version and the secret values come from.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import pulumi
from pulumi_policy import (
    EnforcementLevel,
    Policy,
    PolicyConfigSchema,
    PolicyResource,
    ReportViolation,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    StackValidationArgs,
    StackValidationPolicy,
)

if __package__:  # imported as policy.pack (tests)
    from . import rules
else:  # run by the policy host from this folder (it is sys.path[0] there)
    import rules  # type: ignore[no-redef]

LEVELS = {"mandatory": EnforcementLevel.MANDATORY, "advisory": EnforcementLevel.ADVISORY}

#: per-policy settings users may pass with --policy-pack-config (the stack config is the default)
CONFIG_SCHEMAS = {
    rules.PRIMARY_NOT_MANAGED: PolicyConfigSchema({
        "primaryInstanceId": {"type": "string", "description": "the adopted primary's instance id (default: the stack's primaryInstanceId)"},
    }),
    rules.NO_STACK_SECRET: PolicyConfigSchema({
        "secretConfigKeys": {"type": "array", "items": {"type": "string"},
                             "description": "stack config keys whose values are secrets (default: " + ", ".join(rules.SECRET_CONFIG_KEYS) + ")"},
    }),
}

ConfigGetter = Callable[[str], Any]


def stack_config(key: str) -> Any:
    """A value of the stack's config (``cloud-exchange-ha:<key>``), as the engine handed it to the pack."""
    return pulumi.Config(rules.PROJECT).get(key)


def context(policy_config: Mapping[str, Any], get: ConfigGetter = stack_config) -> rules.Context:
    """The rules' view of the config: the policy's own settings first, then the stack's."""
    keys = policy_config.get("secretConfigKeys")
    primary = policy_config.get("primaryInstanceId")
    return rules.context_from_config(
        get,
        secret_keys=[str(k) for k in keys] if isinstance(keys, list) else rules.SECRET_CONFIG_KEYS,
        primary_instance_id=primary if isinstance(primary, str) else None,
    )


def resource_of(args: ResourceValidationArgs | PolicyResource) -> rules.Resource:
    """What the engine shows of one resource; retain_on_delete and deleted_with are not among it."""
    dependencies = getattr(args, "dependencies", None) or []
    return rules.Resource(
        typ=args.resource_type,
        name=args.name,
        props=rules.plain(args.props),
        protect=bool(args.opts.protect),
        full_options=False,
        depends_on=tuple(d.name for d in dependencies),
        urn=args.urn,
    )


def resource_validator(name: str, get: ConfigGetter = stack_config) -> Callable[[ResourceValidationArgs, ReportViolation], None]:
    check = rules.RESOURCE_CHECKS[name]

    def validate(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
        for message in check(resource_of(args), context(args.get_config(), get)):
            report_violation(message, None)

    return validate


def stack_validator(name: str, get: ConfigGetter = stack_config) -> Callable[[StackValidationArgs, ReportViolation], None]:
    check = rules.STACK_CHECKS[name]

    def validate(args: StackValidationArgs, report_violation: ReportViolation) -> None:
        resources = [resource_of(r) for r in args.resources]
        urns: dict[str, str | None] = {}
        for resource in resources:
            urns.setdefault(resource.name, resource.urn)
        for violation in check(resources, context(args.get_config(), get)):
            report_violation(violation.message, urns.get(violation.resource))

    return validate


def policies(get: ConfigGetter = stack_config) -> list[Policy]:
    """One CrossGuard policy per ``rules.POLICIES`` entry, same name, level and description."""
    built: list[Policy] = []
    for spec in rules.POLICIES:
        if spec.kind == "resource":
            built.append(ResourceValidationPolicy(
                name=spec.name, description=spec.description, enforcement_level=LEVELS[spec.level],
                validate=resource_validator(spec.name, get), config_schema=CONFIG_SCHEMAS.get(spec.name),
            ))
        else:
            built.append(StackValidationPolicy(
                name=spec.name, description=spec.description, enforcement_level=LEVELS[spec.level],
                validate=stack_validator(spec.name, get), config_schema=CONFIG_SCHEMAS.get(spec.name),
            ))
    return built
