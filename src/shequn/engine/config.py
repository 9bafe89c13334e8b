"""Turning specs into the engine's configuration, validating every policy's settings on the way."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from pydantic import ValidationError

from shequn.domain import UserError, group_key
from shequn.playbook.spec import CommunitySpec
from shequn.policies import CommunityConfig, GroupConfig, Policy, PolicySettings, default_policies


def build_community_config(
    spec: CommunitySpec, policies: Sequence[Policy] | None = None, *, source: str = "<spec>"
) -> CommunityConfig:
    """Validate ``spec.policies`` against the policies and return the community's configuration.

    Raises:
        UserError: (exit 2) naming ``policies.<name>.<field>`` and the problem, for every problem found.
    """
    policies = default_policies() if policies is None else policies
    by_name = {p.name: p for p in policies}
    problems: list[str] = []
    unknown = sorted(set(spec.policies) - by_name.keys())
    for name in unknown:
        problems.append(f"{source}: policies.{name}: unknown policy; policies are {', '.join(sorted(by_name))}")
    settings: dict[str, PolicySettings] = {}
    for name, policy in by_name.items():
        path, raw = policy.raw_settings(spec)
        try:
            s = policy.settings_model.model_validate(raw)
        except ValidationError as exc:
            for err in exc.errors():
                where = ".".join(str(p) for p in err["loc"])
                problems.append(f"{source}: {path}.{where}: {err['msg'].removeprefix('Value error, ')}")
            continue
        for fld, msg in policy.check(s, spec):
            problems.append(f"{source}: {path}.{fld}: {msg}" if fld else f"{source}: {path}: {msg}")
        settings[name] = s
    if problems:
        raise UserError("\n".join(problems), exit_code=2)
    return CommunityConfig(spec=spec, settings=settings)


@dataclass(slots=True)
class WorkspaceConfig:
    """Every community's configuration and every bound group, keyed for the engine's lookups."""

    communities: dict[str, CommunityConfig] = field(default_factory=dict)
    groups: dict[str, GroupConfig] = field(default_factory=dict)

    @classmethod
    def from_specs(cls, specs: Iterable[CommunitySpec], policies: Sequence[Policy] | None = None) -> WorkspaceConfig:
        cfg = cls()
        for spec in specs:
            cfg.add(build_community_config(spec, policies))
        return cfg

    def add(self, community: CommunityConfig) -> None:
        """Add (or replace) a community and bind the groups its spec lists."""
        self.communities[community.name] = community
        for g in community.spec.groups:
            self.bind(
                GroupConfig(group_key(g.platform, g.id), g.platform, g.id, community.name, g.name, g.role, g.capacity)
            )

    def bind(self, group: GroupConfig) -> None:
        self.groups[group.key] = group
