"""Domain-specific identity configuration (Identity API v3: "Domain configuration").

A domain may carry its own ``identity`` and ``ldap`` option groups, stored
as keystone stores them: only the options keystone lets a domain override
(:data:`OPTIONS`; ``ldap.password`` is accepted but never shown). kumo has
no LDAP driver: the options are stored and served, not used.

A config is ``{group: {option: value}}``. Errors: NotFound (404) for an
unknown domain or a group/option the domain has no value for; Forbidden
(403, keystone's "Invalid domain specific configuration") for a group or
option outside :data:`OPTIONS` or an empty config; BadRequest (400) for a
body that does not match the group/option of the URL.
"""
from __future__ import annotations

from typing import Any

from sqlalchemy import delete, select

from kumo.common.api.errors import BadRequest, Forbidden, NotFound
from kumo.common.db import Database
from kumo.identity import crud
from kumo.identity import models as m

#: The options a domain may set, with keystone's defaults (shown by the ``default`` routes).
OPTIONS: dict[str, dict[str, Any]] = {
    "identity": {"driver": "sql", "list_limit": None},
    "ldap": {
        "url": "ldap://localhost", "user": None, "suffix": "cn=example,cn=com", "query_scope": "one",
        "page_size": 0, "alias_dereferencing": "default", "debug_level": None, "chase_referrals": None,
        "user_tree_dn": None, "user_filter": None, "user_objectclass": "inetOrgPerson",
        "user_id_attribute": "cn", "user_name_attribute": "sn", "user_description_attribute": "description",
        "user_mail_attribute": "mail", "user_pass_attribute": "userPassword",
        "user_enabled_attribute": "enabled", "user_enabled_invert": False, "user_enabled_mask": 0,
        "user_enabled_default": "True", "user_attribute_ignore": ["default_project_id"],
        "user_default_project_id_attribute": None, "user_enabled_emulation": False,
        "user_enabled_emulation_dn": None, "user_enabled_emulation_use_group_config": False,
        "user_additional_attribute_mapping": [], "group_tree_dn": None, "group_filter": None,
        "group_objectclass": "groupOfNames", "group_id_attribute": "cn", "group_name_attribute": "ou",
        "group_member_attribute": "member", "group_members_are_ids": False,
        "group_desc_attribute": "description", "group_attribute_ignore": [],
        "group_additional_attribute_mapping": [], "group_ad_nesting": False, "tls_cacertfile": None,
        "tls_cacertdir": None, "use_tls": False, "tls_req_cert": "demand", "connection_timeout": -1,
        "use_pool": True, "pool_size": 10, "pool_retry_max": 3, "pool_retry_delay": 0.1,
        "pool_connection_timeout": -1, "pool_connection_lifetime": 600, "use_auth_pool": True,
        "auth_pool_size": 100, "auth_pool_connection_lifetime": 60,
    },
}
#: Options a domain may set that are never shown back.
SENSITIVE = {"ldap": {"password"}}

Config = dict[str, dict[str, Any]]


def _invalid(reason: str) -> Forbidden:
    return Forbidden(f"Invalid domain specific configuration: {reason}.")


def check_names(group: str, option: str | None = None) -> None:
    """403 unless ``group`` (and ``option``) may be set for a domain."""
    if group not in OPTIONS:
        raise _invalid(f"group {group} is not supported, only identity and ldap are")
    if option is not None and option not in OPTIONS[group] and option not in SENSITIVE.get(group, ()):
        raise _invalid(f"option {option} in group {group} is not supported")


def check_config(config: Any) -> Config:
    """A validated ``{group: {option: value}}`` (403 if empty or unsupported, 400 if malformed)."""
    if not isinstance(config, dict) or not config:
        raise _invalid("the configuration is empty")
    for group, options in config.items():
        if not isinstance(options, dict) or not options:
            raise BadRequest(f"The options of group {group} must be a non-empty object.")
        for option in options:
            check_names(group, option)
    return config


def defaults(group: str | None = None, option: str | None = None) -> dict:
    """Keystone's defaults: the whole config, one group, or ``{option: value}``."""
    if group is None:
        return {g: dict(opts) for g, opts in OPTIONS.items()}
    check_names(group, option)
    if option is None:
        return {group: dict(OPTIONS[group])}
    if option not in OPTIONS[group]:
        raise _invalid(f"option {option} in group {group} has no default to show")
    return {option: OPTIONS[group][option]}


class DomainConfigService:
    def __init__(self, db: Database):
        self.db = db

    async def _rows(self, db, domain_id: str) -> list[m.DomainConfigOption]:
        await crud.get_or_404(db, m.Domain, domain_id, "domain")
        q = select(m.DomainConfigOption).where(m.DomainConfigOption.domain_id == domain_id)
        return list((await db.scalars(q)).all())

    @staticmethod
    def _shown(rows: list[m.DomainConfigOption]) -> Config:
        out: Config = {}
        for r in sorted(rows, key=lambda r: (r.group, r.option)):
            if r.option not in SENSITIVE.get(r.group, ()):
                out.setdefault(r.group, {})[r.option] = r.value
        return out

    async def get(self, domain_id: str, group: str | None = None, option: str | None = None) -> dict:
        """The domain's config, one group of it, or ``{option: value}``; 404 if not set."""
        if group is not None:
            check_names(group, option)
        async with self.db.session() as db:
            config = self._shown(await self._rows(db, domain_id))
        if not config:
            raise NotFound(f"Could not find domain config: {domain_id}.")
        if group is None:
            return config
        if group not in config:
            raise NotFound(f"Could not find group {group} in domain configuration for domain {domain_id}.")
        if option is None:
            return {group: config[group]}
        if option not in config[group]:
            raise NotFound(f"Could not find option {option} in domain configuration for domain {domain_id}.")
        return {option: config[group][option]}

    async def create(self, domain_id: str, config: Any) -> tuple[Config, bool]:
        """Set (replace) the domain's whole config: ``(config, created)`` (created: none before)."""
        config = check_config(config)
        async with self.db.session() as db:
            existed = bool(await self._rows(db, domain_id))
            await db.execute(delete(m.DomainConfigOption).where(m.DomainConfigOption.domain_id == domain_id))
            self._store(db, domain_id, config)
        return await self.get(domain_id), not existed

    @staticmethod
    def _store(db, domain_id: str, config: Config) -> None:
        for group, options in config.items():
            for option, value in options.items():
                db.add(m.DomainConfigOption(domain_id=domain_id, group=group, option=option, value=value))

    async def update(self, domain_id: str, config: Any, group: str | None = None,
                     option: str | None = None) -> Config:
        """Merge ``config`` into the domain's config and return the whole config.

        With ``group`` the body is ``{group: {...}}``; with ``option`` too it
        is ``{option: value}``. 404 if the domain has no config yet.
        """
        if option is not None:
            if not isinstance(config, dict) or list(config) != [option]:
                raise BadRequest(f"The body must set exactly the option {option} of the URL.")
            config = {group: config}
        elif group is not None and (not isinstance(config, dict) or list(config) != [group]):
            raise BadRequest(f"The body must hold exactly the group {group} of the URL.")
        config = check_config(config)
        async with self.db.session() as db:
            rows = {(r.group, r.option): r for r in await self._rows(db, domain_id)}
            if not rows:
                raise NotFound(f"Could not find domain config: {domain_id}.")
            for g, options in config.items():
                for o, value in options.items():
                    if (g, o) in rows:
                        rows[(g, o)].value = value
                    else:
                        db.add(m.DomainConfigOption(domain_id=domain_id, group=g, option=o, value=value))
        return await self.get(domain_id)

    async def delete(self, domain_id: str, group: str | None = None, option: str | None = None) -> None:
        """Delete the whole config, a group or an option (404 if there is nothing to delete)."""
        if group is not None:
            check_names(group, option)
        async with self.db.session() as db:
            rows = [r for r in await self._rows(db, domain_id)
                    if group in (None, r.group) and option in (None, r.option)]
            if not rows:
                what = f"option {option}" if option else f"group {group}" if group else "domain config"
                raise NotFound(f"Could not find {what} in domain configuration for domain {domain_id}.")
            for r in rows:
                await db.delete(r)
