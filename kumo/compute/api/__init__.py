"""The compute API component (Nova v2.1 subset, ``kumo serve compute-api``, port 8774).

Besides the REST API it serves the bus topic ``conductor``
(:class:`kumo.compute.conductor.Conductor`) and heartbeats the
``nova-conductor`` service of this host. Errors use nova's body format;
responses carry ``x-openstack-request-id`` and ``x-compute-request-id``.
"""
from __future__ import annotations

import asyncio

from starlette.middleware import Middleware

from kumo.common.api import create_app
from kumo.common.runtime import Component, Runtime
from kumo.compute import policies
from kumo.compute.api import instance_actions as instance_actions_api
from kumo.compute.api import extensions, external_events, images_proxy, migrations, server_extras, server_tags
from kumo.compute.api import aggregates, audit_log, legacy_hosts, quotas, server_groups, usage
from kumo.compute.api import consoles
from kumo.compute.api import (flavors, floating_ips, hosts, interfaces, keypairs, limits,
                              networks_proxy, security_groups, servers, versions)
from kumo.compute.api.microversion import ComputeRequestMiddleware
from kumo.compute.conductor import Conductor, Heartbeat
from kumo.compute.models import open_database
from kumo.compute.service import ComputeService


def component(rt: Runtime) -> Component:
    """The compute API: app on ``settings.compute.port``, conductor on the bus."""
    settings = rt.settings
    db = open_database(settings.database_url("compute"))
    policy = policies.policy(settings)
    compute = ComputeService(rt, db, policy)
    conductor = Conductor(db, rt.bus)
    heartbeat = Heartbeat(db, settings.common.host, "nova-conductor", "conductor")
    routes = (versions.routes() + servers.routes() + flavors.routes() + keypairs.routes()
              + hosts.routes() + limits.routes() + security_groups.routes() + floating_ips.routes()
              + networks_proxy.routes() + interfaces.routes())
    routes += instance_actions_api.routes() + server_tags.routes() + server_extras.routes()
    routes += images_proxy.routes() + extensions.routes() + external_events.routes()
    routes += migrations.routes()
    routes += (aggregates.routes() + legacy_hosts.routes() + quotas.routes() + server_groups.routes()
               + usage.routes() + audit_log.routes())
    routes += consoles.routes()
    app = create_app(style="nova", routes=routes, validator=rt.validator, public=versions.is_public,
                     request_id_headers=("x-compute-request-id",),
                     state={"db": db, "compute": compute, "settings": settings, "bus": rt.bus,
                            "policy": policy})
    # Runs inside the token check (it needs the caller's project), before the routes.
    app.user_middleware.append(Middleware(ComputeRequestMiddleware))

    stopping, reclaimer = asyncio.Event(), []  # the soft-deleted servers' reclaim loop

    async def start() -> None:
        stopping.clear()
        await db.create_schema()
        await rt.bus.serve("conductor", conductor, server=settings.common.host)
        await heartbeat.start()
        reclaimer.append(asyncio.get_running_loop().create_task(compute.reclaim_loop(stopping)))

    async def stop() -> None:
        stopping.set()
        await asyncio.gather(*reclaimer, return_exceptions=True)
        reclaimer.clear()
        await heartbeat.stop()
        await rt.bus.unserve(conductor)
        await db.close()

    return Component(name="compute-api", app=app, port=settings.compute.port,
                     starters=[start], stoppers=[stop])
