"""Security group rules (Networking API v2.0, "Security group rules (security-group-rules)").

``protocol`` is a name from :data:`PROTOCOLS`, a number 0..255 (kept as the
string given) or None/"any" for every protocol. Ports: for TCP, UDP, UDP-Lite,
SCTP and DCCP ``port_range_min <= port_range_max`` (both or neither); for ICMP
and ICMPv6 ``port_range_min`` is the type and ``port_range_max`` the code
(0..255, a code needs a type); other protocols take no ports. A
``remote_ip_prefix`` must match ``ethertype`` and excludes ``remote_group_id``.
Errors are 400 (SecurityGroupRuleInvalidProtocol, SecurityGroupInvalidPortRange,
SecurityGroupInvalidIcmpValue, SecurityGroupRuleParameterConflict...), 404
SecurityGroupNotFound / SecurityGroupRuleNotFound, 409 SecurityGroupRuleExists.
"""
from __future__ import annotations

import ipaddress

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from kumo.common.api.errors import BadRequest, Conflict, NotFound
from kumo.common.auth.context import RequestContext
from kumo.network.models import SecurityGroup, SecurityGroupRule
from kumo.network.service.security_groups import SecurityGroupsMixin, group_not_found, rule_view

#: IP protocol names neutron accepts, with their numbers.
PROTOCOLS = {"ah": 51, "dccp": 33, "egp": 8, "esp": 50, "gre": 47, "icmp": 1, "icmpv6": 58,
             "igmp": 2, "ipip": 4, "ipv6-encap": 41, "ipv6-frag": 44, "ipv6-icmp": 58,
             "ipv6-nonxt": 59, "ipv6-opts": 60, "ipv6-route": 43, "ospf": 89, "pgm": 113,
             "rsvp": 46, "sctp": 132, "tcp": 6, "udp": 17, "udplite": 136, "vrrp": 112}
PORT_PROTOCOLS = {6, 17, 33, 132, 136}
ICMP_PROTOCOLS = {1, 58}


def protocol_number(protocol: str | None) -> int | None:
    """The IP protocol number of a stored protocol (None: any)."""
    if protocol is None:
        return None
    return PROTOCOLS[protocol] if protocol in PROTOCOLS else int(protocol)


def _normal_protocol(value: str | None) -> str | None:
    if value is None or value == "any":
        return None
    if value in PROTOCOLS:
        return value
    if value.isdigit() and 0 <= int(value) <= 255:
        return str(int(value))
    raise BadRequest(f"Security group rule protocol {value} not supported. Only protocol values "
                     f"{[None, *sorted(PROTOCOLS)]} and integer representations [0 to 255] are "
                     "supported.", kind="SecurityGroupRuleInvalidProtocol")


def _check_ports(number: int | None, low: int | None, high: int | None) -> None:
    if number in PORT_PROTOCOLS:
        if (low is None) != (high is None) or (low is not None and low > high):
            raise BadRequest("For TCP/UDP protocols, port_range_min must be <= port_range_max",
                             kind="SecurityGroupInvalidPortRange")
    elif number in ICMP_PROTOCOLS:
        for field, attr, value in (("type", "port_range_min", low), ("code", "port_range_max", high)):
            if value is not None and not 0 <= value <= 255:
                raise BadRequest(f"Invalid value for ICMP {field} ({attr.replace('_', '-')}): "
                                 f"{value}. It must be 0 to 255.",
                                 kind="SecurityGroupInvalidIcmpValue")
        if low is None and high is not None:
            raise BadRequest(f"ICMP code (port-range-max) {high} is provided but ICMP type "
                             "(port-range-min) is missing.", kind="SecurityGroupMissingIcmpType")
    elif low is not None or high is not None:
        if number is None:
            raise BadRequest("Must also specify protocol if port range is given.",
                             kind="SecurityGroupProtocolRequiredWithPorts")
        raise BadRequest(f"Invalid protocol {number} for port range, only supported for TCP, "
                         "UDP, UDPLITE, SCTP and DCCP.", kind="InvalidInput")


def validate_rule(body: dict) -> dict:
    """Normalise and check a parsed rule body (see the module docstring); returns it."""
    body["protocol"] = _normal_protocol(body.get("protocol"))
    number = protocol_number(body["protocol"])
    if body["ethertype"] == "IPv4" and number == 58 and body["protocol"] != "58":
        raise BadRequest(f"Security group rule for ethertype 'IPv4' not supported. Allowed "
                         f"ethertypes are IPv6 for protocol {body['protocol']}.",
                         kind="SecurityGroupEthertypeConflictWithProtocol")
    _check_ports(number, body.get("port_range_min"), body.get("port_range_max"))
    prefix = body.get("remote_ip_prefix")
    if prefix is not None:
        if body.get("remote_group_id") or body.get("remote_address_group_id"):
            raise BadRequest("Only remote_ip_prefix or remote_group_id may be provided.",
                             kind="SecurityGroupRemoteGroupAndRemoteIpPrefix")
        version = ipaddress.ip_network(prefix).version
        if f"IPv{version}" != body["ethertype"]:
            raise BadRequest(f"Conflicting value ethertype {body['ethertype']} for CIDR {prefix}",
                             kind="SecurityGroupRuleParameterConflict")
    if body.get("remote_group_id") and body.get("remote_address_group_id"):
        raise BadRequest("Only remote_group_id or remote_address_group_id may be provided.",
                         kind="SecurityGroupRemoteGroupAndRemoteAddressGroup")
    return body


def _key(rule) -> tuple:
    """What makes two rules the same (protocol by number, an any-address prefix as none)."""
    get = rule.get if isinstance(rule, dict) else lambda k: getattr(rule, k)
    prefix = get("remote_ip_prefix")
    if prefix is not None and ipaddress.ip_network(prefix).prefixlen == 0:
        prefix = None
    return (get("direction"), get("ethertype"), protocol_number(get("protocol")),
            get("port_range_min"), get("port_range_max"), prefix, get("remote_group_id"),
            get("remote_address_group_id"))


class SecurityGroupRulesMixin(SecurityGroupsMixin):
    def rule_target(self, rule: SecurityGroupRule, group: SecurityGroup) -> dict:
        return {"id": rule.id, "project_id": rule.project_id,
                "security_group:project_id": group.project_id}

    async def _rule(self, s: AsyncSession, ctx: RequestContext, rule_id: str
                    ) -> tuple[SecurityGroupRule, SecurityGroup]:
        rule = await s.get(SecurityGroupRule, rule_id)
        group = await s.get(SecurityGroup, rule.security_group_id) if rule else None
        if rule is None or group is None or not self.allowed(
                ctx, "get_security_group_rule", self.rule_target(rule, group)):
            raise NotFound(f"Security group rule {rule_id} does not exist",
                           kind="SecurityGroupRuleNotFound")
        return rule, group

    async def list_security_group_rules(self, ctx: RequestContext) -> list[dict]:
        """Views of the rules the caller sees: its own and its groups' (admins: all)."""
        async def tx(s: AsyncSession) -> list[dict]:
            q = select(SecurityGroupRule, SecurityGroup).join(
                SecurityGroup, SecurityGroup.id == SecurityGroupRule.security_group_id
            ).order_by(SecurityGroupRule.id)
            scope = self.rule_scope(ctx)
            if scope is not None:
                q = q.where(scope)
            return [rule_view(r) for r, g in (await s.execute(q)).all()
                    if self.allowed(ctx, "get_security_group_rule", self.rule_target(r, g))]
        return await self.read(tx)

    async def show_security_group_rule(self, ctx: RequestContext, rule_id: str) -> dict:
        async def tx(s: AsyncSession) -> dict:
            return rule_view((await self._rule(s, ctx, rule_id))[0])
        return await self.read(tx)

    async def create_security_group_rule(self, ctx: RequestContext, body: dict) -> dict:
        """Add a rule to a group the caller may change (else 404); see the module docstring
        for the 400s; 409 SecurityGroupRuleExists for a duplicate, 409 OverQuota."""
        body = validate_rule(body)
        project = body.pop("project_id", None) or ctx.project_id
        notice: list[str] = []

        async def tx(s: AsyncSession) -> dict:
            group = await self.get_group(s, ctx, body["security_group_id"])
            self.authorize(ctx, "create_security_group_rule",
                           {"project_id": project, "security_group:project_id": group.project_id})
            if body.get("remote_group_id") and body["remote_group_id"] != group.id:
                await self.get_group(s, ctx, body["remote_group_id"])
            if body.get("remote_address_group_id"):  # kumo has no address groups (yet)
                raise NotFound(f"Address group {body['remote_address_group_id']} could not be "
                               "found.", kind="AddressGroupNotFound")
            for rule in group.rules:
                if _key(rule) == _key(body):
                    raise Conflict(f"Security group rule already exists. Rule id is {rule.id}.",
                                   kind="SecurityGroupRuleExists")
            await self.check_quota(s, ctx, "security_group_rule", 1, project)
            rule = SecurityGroupRule(project_id=project, **{
                k: body.get(k) for k in ("security_group_id", "direction", "ethertype", "protocol",
                                         "port_range_min", "port_range_max", "remote_ip_prefix",
                                         "remote_group_id", "remote_address_group_id")},
                description=body.get("description", ""))
            group.rules.append(rule)
            group.touch()
            await s.flush()
            notice[:] = await self.affected_ports(s, [group.id])
            return rule_view(rule)

        view = await self.write(tx)
        await self.notify_security_groups(notice)
        return view

    async def update_security_group_rule(self, ctx: RequestContext, rule_id: str, body: dict) -> dict:
        """Only ``description`` may change."""
        async def tx(s: AsyncSession) -> dict:
            rule, group = await self._rule(s, ctx, rule_id)
            self.authorize(ctx, "update_security_group_rule", self.rule_target(rule, group))
            if "description" in body:
                rule.description = body["description"]
            rule.touch()
            await s.flush()
            return rule_view(rule)
        return await self.write(tx)

    async def delete_security_group_rule(self, ctx: RequestContext, rule_id: str) -> None:
        """Remove a rule (404 if the caller does not see it, 403 if it may not change it)."""
        async def tx(s: AsyncSession) -> list[str]:
            rule, group = await self._rule(s, ctx, rule_id)
            self.authorize(ctx, "delete_security_group_rule", self.rule_target(rule, group))
            affected = await self.affected_ports(s, [group.id])
            await s.delete(rule)
            group.touch()
            return affected
        await self.notify_security_groups(await self.write(tx))


__all__ = ["SecurityGroupRulesMixin", "group_not_found", "validate_rule"]
