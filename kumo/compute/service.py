"""Compute service logic: servers (create, list, delete, console, stop/start/reboot), usage and quotas.

The API handlers call :class:`ComputeService`; the scheduler and the
hypervisor views share :func:`node_usage`. Other services are reached only
through their REST APIs (``rt.service_auth.request``) and the bus:

- image API ``GET /v2/images/{id}`` (and ``/members/{project}`` for shared images);
- network API ``GET /v2.0/networks/{id}``, ``GET /v2.0/networks?...``,
  ``GET /v2.0/ports/{id}`` (and ``DELETE``/``PUT`` ports on a local delete);
- bus: cast ``scheduler.schedule_instance``, cast ``compute.<host>.terminate_instance``,
  ``stop_instance``, ``start_instance``, ``reboot_instance``; call
  ``compute.<host>.get_console_output``.
"""
from __future__ import annotations

import asyncio
import logging
import re
import secrets
import string
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import delete, select

from kumo.common.api.errors import (ApiError, BadRequest, Conflict, NotFound,
                                    ServiceUnavailable)
from kumo.common.auth.context import RequestContext
from kumo.common.bus import NoListener, RemoteError
from kumo.common.db import utcnow
from kumo.common.policy import Policy
from kumo.compute import aggregates, objects, quotas, server_groups
from kumo.compute.instance_actions import record_action
from kumo.compute.lifecycle import ServerLifecycle, check_state
from kumo.compute.models import (SERVICE_DOWN_SECONDS, ComputeNode, Flavor, FlavorAccess,
                                 Instance, InstanceFault, KeyPair, Service, new_uuid)
from kumo.compute.netproxy import NetworkProxy
from kumo.compute.networks import NetworkRequests
from kumo.compute.schemas import ServerCreate

log = logging.getLogger(__name__)

#: nova's task_states.ALLOW_REBOOT: the task states a HARD reboot may interrupt.
_ALLOW_REBOOT = (None, "rebooting", "reboot_pending", "reboot_started", "resuming", "rebooting_hard",
                 "unpausing", "pausing", "suspending")

#: Power actions (nova/compute/api.py check_instance_state): name -> (allowed vm_states,
#: allowed task_states, task_state set by the API, agent method on ``compute.<host>``).
POWER_ACTIONS = {
    "stop": ((objects.ACTIVE, objects.ERROR), (None,), "powering-off", "stop_instance"),
    "start": ((objects.STOPPED,), (None,), "powering-on", "start_instance"),
    "reboot_soft": ((objects.ACTIVE,), (None,), "rebooting", "reboot_instance"),
    "reboot_hard": ((objects.ACTIVE, objects.STOPPED, "paused", "suspended", objects.ERROR),
                    _ALLOW_REBOOT, "rebooting_hard", "reboot_instance"),
}

_CONSOLE_JUNK = re.compile(r"[\x00-\x08\x0B-\x1F]")


def service_is_up(svc: Service, now: datetime | None = None) -> bool:
    """Heartbeat within :data:`SERVICE_DOWN_SECONDS` and not forced down."""
    if svc.forced_down or svc.updated_at is None:
        return False
    return (now or utcnow()) - svc.updated_at <= timedelta(seconds=SERVICE_DOWN_SECONDS)


async def node_usage(session, host: str | None = None) -> dict[tuple[str, str], dict]:
    """Claimed resources per ``(host, node)``: vcpus, ram (MiB), disk (GiB), instances, workload.

    Every non-deleted instance with a node counts (nova keeps the allocation
    of an ERROR instance that is still on its host); ``workload`` counts those
    with a task in progress. ``host``: only that host's nodes (the scheduler's claim).
    """
    query = select(Instance.host, Instance.node, Instance.flavor, Instance.task_state).where(
        Instance.node.is_not(None))
    if host is None:
        query = query.where(Instance.deleted.is_(False))
    else:  # "NOT deleted", not "deleted IS 0": SQLite then searches the host index, not the deleted one
        query = query.where(Instance.host == host, ~Instance.deleted)
    rows = (await session.execute(query)).all()
    usage: dict[tuple[str, str], dict] = defaultdict(
        lambda: {"vcpus": 0, "ram": 0, "disk": 0, "instances": 0, "workload": 0})
    for host, node, flavor, task in rows:
        u = usage[(host, node)]
        u["vcpus"] += int(flavor.get("vcpus", 0))
        u["ram"] += int(flavor.get("ram", 0))
        u["disk"] += objects.flavor_disk_gb(flavor)
        u["instances"] += 1
        u["workload"] += 1 if task else 0
    return usage


async def flavor_for(session, flavorid: str, project_id: str | None, see_all: bool) -> Flavor | None:
    """The flavor ``flavorid`` if ``project_id`` may use it (public, in its access list, or
    ``see_all`` for admins)."""
    flavor = (await session.execute(select(Flavor).where(Flavor.flavorid == flavorid))).scalar_one_or_none()
    if flavor is None or flavor.is_public or see_all:
        return flavor
    access = (await session.execute(select(FlavorAccess.id).where(
        FlavorAccess.flavor_id == flavor.id, FlavorAccess.project_id == project_id))).first()
    return flavor if access else None


@dataclass
class ServerQuery:
    """Filters of ``GET /servers`` (already checked for policy by the handler)."""

    project_id: str | None = None  # None: all projects (admin all_tenants)
    name: str | None = None
    statuses: list[tuple[str, str | None]] | None = None
    status_unknown: bool = False
    host: str | None = None
    node: str | None = None
    image: str | None = None
    flavor: str | None = None
    ip: str | None = None
    reservation_id: str | None = None
    key_name: str | None = None
    changes_since: datetime | None = None
    sort: list[tuple[str, str]] = field(default_factory=lambda: [("created_at", "desc")])
    marker: str | None = None
    limit: int = 1000
    #: more conditions (e.g. the tag filters): callables on an Instance
    predicates: list = field(default_factory=list)


class ComputeService(NetworkRequests, ServerLifecycle):
    """Servers as the compute API serves them (Compute API reference, "Servers"; the
    lifecycle actions: :class:`~kumo.compute.lifecycle.ServerLifecycle`)."""

    def __init__(self, rt, db, policy: Policy):
        self.rt, self.db = rt, db
        self.settings = rt.settings
        self.policy = policy
        self.netproxy = NetworkProxy(rt.service_auth)

    def sees(self, ctx: RequestContext, project_id: str | None) -> bool:
        """True if the caller may see a resource of ``project_id`` (its own, or any as admin)."""
        return (project_id is not None and project_id == ctx.project_id) or self.policy.is_admin(ctx)

    # -- lookups -------------------------------------------------------------------

    async def get_instance(self, ctx: RequestContext, uuid: str, session=None) -> Instance:
        """A live instance the caller may see; 404 (nova's message) otherwise."""
        async def load(s):
            return (await s.execute(select(Instance).where(
                Instance.uuid == uuid, Instance.deleted.is_(False)))).scalar_one_or_none()
        if session is None:
            async with self.db.session() as s:
                inst = await load(s)
        else:
            inst = await load(session)
        if inst is None or not self.sees(ctx, inst.project_id):
            raise NotFound(f"Instance {uuid} could not be found.")
        return inst

    async def faults(self, uuids: list[str]) -> dict[str, InstanceFault]:
        """The newest fault of each instance in ``uuids``."""
        if not uuids:
            return {}
        async with self.db.session() as s:
            rows = (await s.execute(select(InstanceFault).where(
                InstanceFault.instance_uuid.in_(uuids)).order_by(InstanceFault.id))).scalars().all()
        return {f.instance_uuid: f for f in rows}

    async def host_statuses(self) -> dict[str, str]:
        """nova-compute host -> ``UP``/``DOWN``/``MAINTENANCE`` (host_status, 2.16)."""
        async with self.db.session() as s:
            services = (await s.execute(select(Service).where(Service.binary == "nova-compute"))).scalars().all()
        now = utcnow()
        return {svc.host: ("DOWN" if not service_is_up(svc, now) else
                           "MAINTENANCE" if svc.disabled else "UP") for svc in services}

    async def list_servers(self, query: ServerQuery) -> list[Instance]:
        """Instances matching ``query``, sorted, after ``marker``, at most ``limit``."""
        if query.status_unknown:
            return []
        stmt = select(Instance)
        if query.changes_since is not None:
            stmt = stmt.where(Instance.updated_at >= query.changes_since)
        else:
            stmt = stmt.where(Instance.deleted.is_(False))
        if query.project_id is not None:
            stmt = stmt.where(Instance.project_id == query.project_id)
        async with self.db.session() as s:
            rows = list((await s.execute(stmt)).scalars().all())
        rows = [i for i in rows if _matches(i, query)]
        for key, direction in reversed(query.sort):
            rows.sort(key=lambda i, k=key: _sort_value(getattr(i, k)), reverse=direction == "desc")
        if query.marker:
            for n, inst in enumerate(rows):
                if inst.uuid == query.marker:
                    rows = rows[n + 1:]
                    break
            else:
                raise BadRequest(f"marker [{query.marker}] not found")
        return rows[:query.limit]

    # -- remote lookups -----------------------------------------------------------

    async def _remote(self, service_type: str, method: str, path: str, **kw):
        try:
            return await self.rt.service_auth.request(service_type, method, path, **kw)
        except ServiceUnavailable:
            raise
        except ApiError as e:
            raise ServiceUnavailable(f"{service_type} service refused the compute service: {e.message}") from e

    async def _get(self, service_type: str, path: str) -> dict | None:
        r = await self._remote(service_type, "GET", path)
        if r.status_code == 404:
            return None
        if r.status_code >= 400:
            raise ServiceUnavailable(f"{service_type} service answered {r.status_code} to GET {path}")
        return r.json()

    async def image(self, ctx: RequestContext, image_id: str) -> dict:
        """The image if it exists and the caller may see it; 400 "Image X could not be found."."""
        missing = BadRequest(f"Image {image_id} could not be found.")
        if not re.fullmatch(r"[0-9a-fA-F-]{32,36}", image_id):
            raise missing
        image = await self._get("image", f"/v2/images/{image_id}")
        if image is None:
            raise missing
        owner, visibility = image.get("owner"), image.get("visibility", "public")
        if not (visibility in ("public", "community") or self.sees(ctx, owner)):
            member = None
            if visibility == "shared":
                member = await self._get("image", f"/v2/images/{image_id}/members/{ctx.project_id}")
            if not member or member.get("status") == "rejected":
                raise missing
        return image

    # -- create -------------------------------------------------------------------

    async def create_servers(self, ctx: RequestContext, req: ServerCreate) -> list[Instance]:
        """Validate, write the instances (building/scheduling) and cast them to the scheduler.

        Errors: 400 (unknown flavor, image, network, key, zone, host; image
        not active or too big), 403 (quota, forced host by a non-admin),
        409 (ambiguous network, port in use), 503 (image/network API or
        scheduler unreachable: nothing is left behind).
        """
        async with self.db.session() as s:
            flavor = await flavor_for(s, req.flavor_ref, ctx.project_id, self.policy.is_admin(ctx))
            if flavor is None:
                raise BadRequest(f"Flavor {req.flavor_ref} could not be found.")
            keypair = None
            if req.key_name is not None:
                keypair = (await s.execute(select(KeyPair).where(
                    KeyPair.user_id == ctx.user_id, KeyPair.name == req.key_name))).scalar_one_or_none()
                if keypair is None:
                    raise BadRequest("Invalid key_name provided.")
            host, node = await self._requested_host(s, ctx, req)
            await quotas.check_metadata(s, ctx.project_id, len(req.metadata))
            await quotas.check_injected_files(s, ctx.project_id, req.personality)
        image = await self.image(ctx, req.image_ref)
        _check_image(image, flavor)
        if req.max_count > 1 and isinstance(req.networks, list) and any(n["port_id"] for n in req.networks):
            raise BadRequest("Unable to launch multiple instances with a single configured port ID. "
                             "Please launch your instance one by one with different ports.")
        networks = await self.networks_for(ctx, req.networks)
        secured = [n for n in networks if n.pop("port_security")]
        if req.security_groups and networks:
            # created ports get these groups (names resolved in the caller's project; 400 unknown)
            groups = await self.netproxy.resolve_groups(ctx, req.security_groups)
            networks = [dict(n, security_groups=[g["id"] for g in groups]) for n in networks]
            req.security_groups = [g.get("name") or g["id"] for g in groups]  # shown by name
        elif secured:  # neutron gives the ports the project's "default" group
            req.security_groups = ["default"]
        snapshot = objects.flavor_snapshot(flavor)
        # "nova:host:node" asks for a host; the instance keeps only the zone, as nova does
        zone = req.availability_zone.partition(":")[0] if req.availability_zone else None
        async with self.db.session() as s:
            count = await quotas.instance_room(s, ctx.project_id, ctx.user_id, snapshot,
                                               req.min_count, req.max_count)
            reservation = "r-" + secrets.token_hex(4)
            instances = []
            for index in range(count):
                display = req.name if count == 1 else f"{req.name}-{index + 1}"
                uuid = new_uuid()
                inst = Instance(
                    uuid=uuid, display_name=display, display_description=req.description,
                    hostname=objects.sanitize_hostname(display, f"Server-{uuid}"),
                    project_id=ctx.project_id, user_id=ctx.user_id, flavor_id=flavor.flavorid,
                    flavor=snapshot, image_ref=req.image_ref, key_name=req.key_name,
                    key_data=keypair.public_key if keypair else None,
                    key_type=keypair.type if keypair else None, user_data=req.user_data,
                    meta=dict(req.metadata), availability_zone=zone,
                    config_drive=req.config_drive, requested_networks=networks, network_info=[],
                    security_groups=req.security_groups, tags=req.tags, reservation_id=reservation,
                    launch_index=index, requested_host=host, requested_node=node,
                    access_ip_v4=req.access_ip_v4, access_ip_v6=req.access_ip_v6,
                    auto_disk_config=req.auto_disk_config, injected_files=req.personality or None,
                    vm_state=objects.BUILDING, task_state=objects.SCHEDULING, power_state=0)
                s.add(inst)
                await record_action(s, ctx, uuid, "create")
                instances.append(inst)
            await server_groups.attach(s, ctx, req.scheduler_hints, [i.uuid for i in instances])
        try:
            for inst in instances:
                await self.rt.bus.cast("scheduler", "schedule_instance", instance_id=inst.uuid)
        except NoListener:
            async with self.db.session() as s:
                await s.execute(delete(Instance).where(Instance.uuid.in_([i.uuid for i in instances])))
            raise ServiceUnavailable("The scheduler is not available; no server was created.") from None
        return instances

    async def _requested_host(self, s, ctx: RequestContext, req: ServerCreate) -> tuple[str | None, str | None]:
        host = node = None
        zone = req.availability_zone
        if zone is not None:
            name, _, rest = zone.partition(":")
            if await aggregates.hosts_of_zone(s, name) is None:
                raise BadRequest("The requested availability zone is not available")
            if rest:
                self.policy.authorize(ctx, "os_compute_api:servers:create:forced_host")
                host, _, node = rest.partition(":")
                host, node = host or None, node or None
        if req.host or req.hypervisor_hostname:
            self.policy.authorize(ctx, "compute:servers:create:requested_destination")
            host, node = req.host or host, req.hypervisor_hostname or node
        if host or node:
            stmt = select(ComputeNode.id)
            if host:
                stmt = stmt.where(ComputeNode.host == host)
            if node:
                stmt = stmt.where(ComputeNode.hypervisor_hostname == node)
            if (await s.execute(stmt)).first() is None:
                raise BadRequest(f"Compute host {host or node} could not be found.")
        return host, node


    # -- delete, console ------------------------------------------------------------

    async def delete_server(self, ctx: RequestContext, uuid: str, force: bool = False) -> None:
        """Delete a server (``DELETE /servers/{id}``, ``forceDelete`` with ``force``); 404 if
        the caller cannot see it.

        With ``[compute] reclaim_instance_interval`` > 0 (and not ``force``) a
        server on a host is soft-deleted instead (SOFT_DELETED, restorable until
        the reclaim). Without a host, or when its compute service is down or not listening,
        the instance is deleted here ("local delete", releasing its ports on
        the network API); otherwise task_state becomes ``deleting`` and the
        agent gets ``terminate_instance`` (it reports ``instance_destroyed``).
        """
        if not force and self.soft_deletable(await self.get_instance(ctx, uuid)):
            await self.lifecycle_action(ctx, uuid, "softDelete")
            return
        async with self.db.session() as s:
            inst = await self.get_instance(ctx, uuid, s)
            await record_action(s, ctx, uuid, "delete")
            shelved_image = (inst.system_metadata or {}).get("shelved_image_id")
            local = inst.host is None
            if not local:
                svc = (await s.execute(select(Service).where(
                    Service.host == inst.host, Service.binary == "nova-compute"))).scalar_one_or_none()
                local = svc is None or not service_is_up(svc)
            if local:
                vifs = _mark_deleted(inst)
            else:
                inst.task_state = objects.DELETING
                inst.updated_at = utcnow()
                payload = objects.instance_to_dict(inst)
        if shelved_image:  # the snapshot of a shelved server goes with it
            await self.delete_image_quietly(shelved_image)
        if local:
            return await self._release_ports(uuid, vifs)
        try:
            await self.rt.bus.cast(f"compute.{payload['host']}", "terminate_instance", instance=payload)
        except NoListener:
            async with self.db.session() as s:
                inst = (await s.execute(select(Instance).where(Instance.uuid == uuid))).scalar_one()
                vifs = [] if inst.deleted else _mark_deleted(inst)
            await self._release_ports(uuid, vifs)

    async def _release_ports(self, uuid: str, vifs: list[dict]) -> None:
        """After a local delete: delete the ports the agent created, unbind the others."""
        for vif in vifs:
            try:
                if vif.get("created_port"):
                    await self._remote("network", "DELETE", f"/v2.0/ports/{vif['port_id']}")
                else:
                    await self._remote("network", "PUT", f"/v2.0/ports/{vif['port_id']}", json={"port": {
                        "device_id": "", "device_owner": "", "binding:host_id": ""}})
            except ApiError as e:
                log.warning("local delete of %s: port %s not released: %s", uuid, vif.get("port_id"), e)

    async def console_output(self, ctx: RequestContext, uuid: str, length: int | None) -> str:
        """The serial console log from the instance's agent (last ``length`` lines)."""
        inst = await self.get_instance(ctx, uuid)
        if not inst.host or inst.vm_state in (objects.ERROR, objects.BUILDING):
            raise Conflict(f"Instance {uuid} is not ready")
        try:
            output = await self.rt.bus.call(f"compute.{inst.host}", "get_console_output",
                                            instance=objects.instance_to_dict(inst), length=length,
                                            timeout=30)
        except (NoListener, asyncio.TimeoutError):
            raise Conflict(f"Compute service of {inst.host} is unavailable at this time.") from None
        except RemoteError as e:
            raise Conflict(f"Unable to get console output of instance {uuid}: {e.message}") from None
        return _CONSOLE_JUNK.sub("", output or "")

    # -- power actions (stop, start, reboot) --------------------------------------------

    async def power_action(self, ctx: RequestContext, uuid: str, action: str,
                           reboot_type: str | None = None) -> None:
        """``os-stop`` / ``os-start`` / ``reboot`` (Compute API "Servers - run an action").

        Nova's state rules (:data:`POWER_ACTIONS`): 409 when the vm_state or
        task_state does not allow ``action`` or the instance has no host;
        otherwise task_state becomes the action's and the agent on
        ``compute.<host>`` gets the cast (it ends with task_state None).
        """
        key = f"reboot_{reboot_type.lower()}" if action == "reboot" else action
        vm_states, task_states, new_task, method = POWER_ACTIONS[key]
        async with self.db.session() as s:
            inst = await self.get_instance(ctx, uuid, s)
            check_state(inst, action, vm_states, task_states)
            if not inst.host:
                raise Conflict(f"Instance {uuid} is not ready")
            inst.task_state = new_task
            inst.updated_at = utcnow()
            await record_action(s, ctx, uuid, action)
            payload = objects.instance_to_dict(inst)
        kwargs = {"reboot_type": reboot_type.upper()} if action == "reboot" else {}
        try:
            await self.rt.bus.cast(f"compute.{payload['host']}", method, instance=payload, **kwargs)
        except NoListener:
            async with self.db.session() as s:
                inst = (await s.execute(select(Instance).where(Instance.uuid == uuid))).scalar_one()
                if inst.task_state == new_task:
                    inst.task_state = None
                    inst.updated_at = utcnow()
            raise Conflict(f"Compute service of {payload['host']} is unavailable at this time.") from None

    # -- update, metadata -------------------------------------------------------------

    async def update_server(self, ctx: RequestContext, uuid: str, values: dict) -> Instance:
        """Change name / description / access IPs (``PUT /servers/{id}``)."""
        async with self.db.session() as s:
            inst = await self.get_instance(ctx, uuid, s)
            for key, value in values.items():
                setattr(inst, key, value)
            inst.updated_at = utcnow()
        return inst

    async def set_metadata(self, ctx: RequestContext, uuid: str, items: dict[str, str],
                           replace: bool = False, remove: str | None = None) -> dict[str, str]:
        """Merge (or ``replace``) server metadata, or ``remove`` one key; returns all of it.

        409 while the server builds or is in error (nova allows it only in
        settled states), 403 past the metadata_items quota, 404 for an absent key.
        """
        async with self.db.session() as s:
            inst = await self.get_instance(ctx, uuid, s)
            if inst.vm_state not in ("active", "paused", "suspended", "stopped", "shelved",
                                     "shelved_offloaded") or inst.task_state is not None:
                raise Conflict(f"Cannot 'update_metadata' instance {uuid} while it is in "
                               f"vm_state {inst.vm_state}")
            meta = {} if replace else dict(inst.meta or {})
            if remove is not None:
                if remove not in meta:
                    raise NotFound("Metadata item was not found")
                del meta[remove]
            meta.update(items)
            await quotas.check_metadata(s, inst.project_id, len(meta))
            inst.meta = meta
            inst.updated_at = utcnow()
        return meta


def _mark_deleted(inst: Instance) -> list[dict]:
    """Soft-delete the row (its claim goes with it); returns its network_info."""
    now = utcnow()
    inst.vm_state, inst.task_state, inst.power_state = objects.DELETED, None, 0
    inst.deleted, inst.deleted_at, inst.updated_at = True, now, now
    inst.terminated_at = inst.terminated_at or now
    return list(inst.network_info or [])


def _check_image(image: dict, flavor: Flavor) -> None:
    """Nova's image-vs-flavor checks (status active, min_ram, min_disk, size)."""
    image_id = image.get("id")
    if image.get("status") != "active":
        raise BadRequest(f"Image {image_id} is not active.")
    if int(image.get("min_ram") or 0) > flavor.memory_mb:
        raise BadRequest("Flavor's memory is too small for requested image.")
    if flavor.root_gb:
        flavor_bytes = flavor.root_gb * 1024 ** 3
        min_disk = int(image.get("min_disk") or 0) * 1024 ** 3
        size = int(image.get("size") or 0)
        if min_disk > flavor_bytes:
            raise BadRequest(f"Flavor's disk is too small for requested image. Flavor disk is "
                             f"{flavor_bytes} bytes, minimum size is {min_disk} bytes.")
        if size > flavor_bytes:
            raise BadRequest(f"Flavor's disk is too small for requested image. Flavor disk is "
                             f"{flavor_bytes} bytes, image is {size} bytes.")


def _matches(inst: Instance, q: ServerQuery) -> bool:
    if not all(match(inst) for match in q.predicates):
        return False
    if q.name is not None:
        try:
            if not re.search(q.name, inst.display_name):
                return False
        except re.error:
            if q.name not in inst.display_name:
                return False
    if q.statuses is not None and not any(
            inst.vm_state == vm and (task is None or inst.task_state == task) for vm, task in q.statuses):
        return False
    if q.host is not None and inst.host != q.host:
        return False
    if q.node is not None and inst.node != q.node:
        return False
    if q.image is not None and inst.image_ref != q.image:
        return False
    if q.flavor is not None and inst.flavor_id != q.flavor:
        return False
    if q.reservation_id is not None and inst.reservation_id != q.reservation_id:
        return False
    if q.key_name is not None and inst.key_name != q.key_name:
        return False
    if q.ip is not None:
        ips = [ip["ip_address"] for vif in inst.network_info or [] for ip in vif.get("fixed_ips", [])]
        try:
            if not any(re.search(q.ip, ip) for ip in ips):
                return False
        except re.error:
            return False
    return True


def _sort_value(value):
    return (value is None, value if value is not None else 0)


def default_admin_pass(length: int = 12) -> str:
    """A random password like nova's (letters and digits without look-alikes)."""
    alphabet = "".join(c for c in string.ascii_letters + string.digits if c not in "lIO0o1")
    return "".join(secrets.choice(alphabet) for _ in range(length))

