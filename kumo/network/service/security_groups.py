"""Security groups (Networking API v2.0, "Security groups (security-groups)") and the
port side of them ("Port security").

A project's ``default`` group is made lazily, the first time the project lists
groups or creates a port: egress IPv4 and IPv6 to anywhere, ingress IPv4 and
IPv6 from members of the same group. Its project's members cannot delete it
(409 SecurityGroupCannotRemoveDefault) nor rename it, and no other group may be
named ``default`` (409 SecurityGroupDefaultAlreadyExists). A group bound to a
port cannot be deleted (409 SecurityGroupInUse).

Changes that alter a port's firewall are fanned out after the commit on the bus
topic ``l2_agent``, method ``security_groups_changed(port_ids)``: the ports whose
groups changed, the members of a group whose rules changed, and the members of
groups whose rules name a changed group as ``remote_group_id``.
"""
from __future__ import annotations

import logging

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from kumo.common.api.errors import BadRequest, Conflict, NotFound
from kumo.common.auth.context import RequestContext
from kumo.common.db import isotime, new_id
from kumo.network.models import PortSecurityGroup, SecurityGroup, SecurityGroupRule
from kumo.network.service.base import ServiceBase

log = logging.getLogger(__name__)
L2_TOPIC = "l2_agent"
DEFAULT = "default"


def group_not_found(group_id: str) -> NotFound:
    return NotFound(f"Security group {group_id} does not exist", kind="SecurityGroupNotFound")


def rule_view(rule: SecurityGroupRule) -> dict:
    """A security_group_rule body (``protocol``: name or number string, None for any)."""
    return {
        "id": rule.id,
        "security_group_id": rule.security_group_id,
        "direction": rule.direction,
        "ethertype": rule.ethertype,
        "protocol": rule.protocol,
        "port_range_min": rule.port_range_min,
        "port_range_max": rule.port_range_max,
        "remote_ip_prefix": rule.remote_ip_prefix,
        "normalized_cidr": rule.remote_ip_prefix,
        "remote_group_id": rule.remote_group_id,
        "remote_address_group_id": rule.remote_address_group_id,
        "description": rule.description,
        "tenant_id": rule.project_id,
        "project_id": rule.project_id,
        "created_at": isotime(rule.created_at),
        "updated_at": isotime(rule.updated_at),
        "revision_number": rule.revision_number,
    }


def group_view(group: SecurityGroup) -> dict:
    """A security_group body with its rules in ``security_group_rules``."""
    return {
        "id": group.id,
        "name": group.name,
        "description": group.description,
        "tenant_id": group.project_id,
        "project_id": group.project_id,
        "stateful": group.stateful,
        "shared": False,
        "security_group_rules": [rule_view(r) for r in group.rules],
        "tags": list(group.tags or []),
        "created_at": isotime(group.created_at),
        "updated_at": isotime(group.updated_at),
        "revision_number": group.revision_number,
    }


def default_rules(group: SecurityGroup) -> list[SecurityGroupRule]:
    """The default group's rules: egress anywhere, ingress from its own members (v4 and v6)."""
    out = []
    for ethertype in ("IPv4", "IPv6"):
        out.append(SecurityGroupRule(project_id=group.project_id, direction="egress",
                                     ethertype=ethertype))
        out.append(SecurityGroupRule(project_id=group.project_id, direction="ingress",
                                     ethertype=ethertype, remote_group_id=group.id))
    return out


class SecurityGroupsMixin(ServiceBase):
    # --- lookups ------------------------------------------------------------
    @staticmethod
    def group_target(group: SecurityGroup) -> dict:
        return {"id": group.id, "project_id": group.project_id}

    async def get_group(self, s: AsyncSession, ctx: RequestContext, group_id: str,
                        action: str = "get_security_group") -> SecurityGroup:
        """The group if ``action`` allows the caller on it, else 404 SecurityGroupNotFound."""
        group = await s.get(SecurityGroup, group_id)
        if group is None or not self.allowed(ctx, action, self.group_target(group)):
            raise group_not_found(group_id)
        return group

    async def ensure_default_group(self, s: AsyncSession, project_id: str | None) -> str | None:
        """The id of ``project_id``'s default group, made (with its rules) if missing."""
        if not project_id:
            return None
        found = await s.scalar(select(SecurityGroup.id).where(
            SecurityGroup.project_id == project_id, SecurityGroup.is_default.is_(True)))
        if found:
            return found
        group = SecurityGroup(project_id=project_id, name=DEFAULT, is_default=True,
                              default_key=DEFAULT, description="Default security group", rules=[])
        s.add(group)
        await s.flush()
        group.rules.extend(default_rules(group))
        await s.flush()
        return group.id

    # --- notices ------------------------------------------------------------
    async def affected_ports(self, s: AsyncSession, group_ids, port_ids=()) -> list[str]:
        """``port_ids`` plus the members of ``group_ids`` and of groups with rules whose
        ``remote_group_id`` is one of ``group_ids``: the ports whose firewall may change."""
        group_ids = set(group_ids)
        if group_ids:
            remote = await s.scalars(select(SecurityGroupRule.security_group_id).where(
                SecurityGroupRule.remote_group_id.in_(group_ids)))
            group_ids |= set(remote.all())
            members = await s.scalars(select(PortSecurityGroup.port_id).where(
                PortSecurityGroup.security_group_id.in_(group_ids)))
            port_ids = [*port_ids, *members.all()]
        return sorted(set(port_ids))

    async def notify_security_groups(self, port_ids: list[str]) -> None:
        """Fan ``security_groups_changed(port_ids)`` out to the L2 agents; never fails."""
        if port_ids:
            await self.notify_l2("security_groups_changed", port_ids=list(port_ids))

    async def notify_l2(self, method: str, **kwargs) -> None:
        """Fan ``method(**kwargs)`` out to the L2 agents (topic ``l2_agent``); never fails."""
        try:
            await self.bus.fanout(L2_TOPIC, method, **kwargs)
        except Exception:  # a committed change stands even if the agents miss the notice
            log.exception("could not notify L2 agents: %s", method)

    # --- ports ----------------------------------------------------------------
    async def port_groups(self, s: AsyncSession, ctx: RequestContext, project_id: str,
                          ids: list[str]) -> list[str]:
        """Check the groups asked for a port of ``project_id``: each must exist and belong
        to that project (admins: any project), else 404 SecurityGroupNotFound."""
        out: list[str] = []
        for group_id in dict.fromkeys(ids):
            group = await s.get(SecurityGroup, group_id)
            if group is None or (group.project_id != project_id and not self.admin(ctx)):
                raise group_not_found(group_id)
            out.append(group_id)
        return out

    @staticmethod
    def group_bindings(group_ids: list[str], keep: dict | None = None) -> list[PortSecurityGroup]:
        """Bindings of a port to ``group_ids`` in that order (reusing those in ``keep``)."""
        out = [(keep or {}).get(g) or PortSecurityGroup(security_group_id=g) for g in group_ids]
        for seq, binding in enumerate(out):
            binding.seq = seq
        return out

    @staticmethod
    def _check_port_security_off(groups: list[str], asked: bool, pairs) -> None:
        if groups and asked:
            raise BadRequest("Port security must be enabled and port must have an IP address in "
                             "order to use security groups.",
                             kind="PortSecurityAndIPRequiredForSecurityGroups")
        if groups:
            raise Conflict("Port has security group associated. Cannot disable port security or "
                           "IP address until security group is removed.",
                           kind="PortSecurityPortHasSecurityGroup")
        if pairs:
            raise Conflict("Port Security must be enabled in order to have allowed address pairs "
                           "on a port.", kind="AddressPairAndPortSecurityRequired")

    async def port_security_create(self, s: AsyncSession, ctx: RequestContext, project_id: str,
                                   net, body: dict) -> list[PortSecurityGroup]:
        """The security group bindings of a new port from a parsed body (sets
        ``port_security_enabled`` in it: the network's by default).

        With port security on: the groups asked for, else the project's default group (none
        for ``network:*`` device owners). With it off: no groups and no address pairs (400
        PortSecurityAndIPRequiredForSecurityGroups, 409 AddressPairAndPortSecurityRequired).
        404 SecurityGroupNotFound for a group the port's project does not own.
        """
        enabled = body.get("port_security_enabled", net.port_security_enabled)
        body["port_security_enabled"] = enabled
        asked = body.get("security_groups")
        if not enabled:
            self._check_port_security_off(asked or [], True, body.get("allowed_address_pairs"))
            return []
        if asked is None:
            if (body.get("device_owner") or "").startswith("network:"):
                return []
            asked = [await self.ensure_default_group(s, project_id)]
        return self.group_bindings(await self.port_groups(s, ctx, project_id, asked))

    async def port_security_update(self, s: AsyncSession, ctx: RequestContext, port,
                                   body: dict) -> list[str]:
        """Apply ``security_groups`` of a parsed PUT body to ``port`` and check ``port_security_enabled`` against the port's groups and address pairs
        after the update (409 PortSecurityPortHasSecurityGroup,
        AddressPairAndPortSecurityRequired). Returns the ports the L2 agents must refresh."""
        asked = body.get("security_groups")
        current = [b.security_group_id for b in port.security_group_bindings]
        groups = current if asked is None else \
            await self.port_groups(s, ctx, port.project_id, asked)
        enabled = body.get("port_security_enabled", port.port_security_enabled)
        if not enabled:
            self._check_port_security_off(groups, asked is not None,
                                          body.get("allowed_address_pairs",
                                                   port.allowed_address_pairs))
        if groups != current:
            keep = {b.security_group_id: b for b in port.security_group_bindings}
            port.security_group_bindings = self.group_bindings(groups, keep)
        elif enabled == port.port_security_enabled and "allowed_address_pairs" not in body:
            return []
        return await self.affected_ports(s, set(current) | set(groups), [port.id])

    # --- groups -----------------------------------------------------------------
    async def list_security_groups(self, ctx: RequestContext) -> list[dict]:
        """Views of the groups the caller sees (its project's; admins all), after making
        the caller's project's default group if missing."""
        if ctx.project_id and not await self.read(self._has_default(ctx.project_id)):
            await self.write(lambda s: self.ensure_default_group(s, ctx.project_id))

        async def tx(s: AsyncSession) -> list[dict]:
            q = select(SecurityGroup).order_by(SecurityGroup.id)
            if not self.admin(ctx):
                q = q.where(SecurityGroup.project_id == ctx.project_id)
            return [group_view(g) for g in (await s.scalars(q)).all()
                    if self.allowed(ctx, "get_security_group", self.group_target(g))]
        return await self.read(tx)

    @staticmethod
    def _has_default(project_id: str):
        async def tx(s: AsyncSession) -> bool:
            return await s.scalar(select(SecurityGroup.id).where(
                SecurityGroup.project_id == project_id,
                SecurityGroup.is_default.is_(True))) is not None
        return tx

    async def show_security_group(self, ctx: RequestContext, group_id: str) -> dict:
        async def tx(s: AsyncSession) -> dict:
            return group_view(await self.get_group(s, ctx, group_id))
        return await self.read(tx)

    async def create_security_group(self, ctx: RequestContext, body: dict) -> dict:
        """Create a group with the two egress rules (IPv4, IPv6) neutron gives new groups.

        403 for readers and for another project unless admin; 409
        SecurityGroupDefaultAlreadyExists for the name ``default``; 409 OverQuota.
        """
        project = body.pop("project_id", None) or ctx.project_id
        self.authorize(ctx, "create_security_group", {"project_id": project})
        if body.get("name") == DEFAULT:
            raise Conflict("Default security group already exists.",
                           kind="SecurityGroupDefaultAlreadyExists")

        async def tx(s: AsyncSession) -> dict:
            await self.ensure_default_group(s, project)
            await self.check_quota(s, ctx, "security_group", 1, project)
            group_id = new_id()
            group = SecurityGroup(id=group_id, default_key=group_id, project_id=project,
                                  name=body["name"], stateful=body["stateful"],
                                  description=body.get("description", ""), tags=body["tags"],
                                  rules=[])
            s.add(group)
            await s.flush()
            group.rules.extend(SecurityGroupRule(project_id=project, direction="egress",
                                                 ethertype=e) for e in ("IPv4", "IPv6"))
            await s.flush()
            return group_view(group)
        return await self.write(tx)

    async def update_security_group(self, ctx: RequestContext, group_id: str, body: dict) -> dict:
        """Change name, description or stateful. 409 when naming a group ``default`` or
        renaming the default group; 409 SecurityGroupInUse when changing ``stateful`` of a
        group bound to ports."""
        notice: list[str] = []

        async def tx(s: AsyncSession) -> dict:
            group = await self.get_group(s, ctx, group_id)
            self.authorize(ctx, "update_security_group", self.group_target(group))
            if "name" in body and body["name"] != group.name:
                if group.is_default:
                    raise Conflict("Updating default security group not allowed.",
                                   kind="SecurityGroupCannotUpdateDefault")
                if body["name"] == DEFAULT:
                    raise Conflict("Default security group already exists.",
                                   kind="SecurityGroupDefaultAlreadyExists")
            if "stateful" in body and body["stateful"] != group.stateful:
                notice[:] = await self.affected_ports(s, [group.id])
                if await self._in_use(s, group.id):
                    raise Conflict(f"Security Group {group.id} in use.", kind="SecurityGroupInUse")
            for key in ("name", "description", "stateful"):
                if key in body:
                    setattr(group, key, body[key])
            group.touch()
            await s.flush()
            return group_view(group)
        view = await self.write(tx)
        await self.notify_security_groups(notice)
        return view

    @staticmethod
    async def _in_use(s: AsyncSession, group_id: str) -> bool:
        return await s.scalar(select(PortSecurityGroup.port_id).where(
            PortSecurityGroup.security_group_id == group_id).limit(1)) is not None

    async def delete_security_group(self, ctx: RequestContext, group_id: str) -> None:
        """Delete a group and its rules. 409 SecurityGroupInUse while a port uses it; 409
        SecurityGroupCannotRemoveDefault for the default group unless the caller is admin."""
        async def tx(s: AsyncSession) -> list[str]:
            group = await self.get_group(s, ctx, group_id)
            self.authorize(ctx, "delete_security_group", self.group_target(group))
            if group.is_default and not self.admin(ctx):
                raise Conflict("Insufficient rights for removing default security group.",
                               kind="SecurityGroupCannotRemoveDefault")
            if await self._in_use(s, group.id):
                raise Conflict(f"Security Group {group.id} in use.", kind="SecurityGroupInUse")
            affected = await self.affected_ports(s, [group.id])
            await s.delete(group)
            return affected
        await self.notify_security_groups(await self.write(tx))

    # --- shared with the rules mixin ------------------------------------------------
    def rule_scope(self, ctx: RequestContext):
        """SQL filter of the rules a non-admin lists: its own or those of its groups."""
        if self.admin(ctx):
            return None
        return or_(SecurityGroupRule.project_id == ctx.project_id,
                   SecurityGroup.project_id == ctx.project_id)
