"""The compute scheduler component (``kumo serve scheduler``).

Serves bus topic ``scheduler`` (``schedule_instance(instance_id)``, see
:mod:`kumo.compute.scheduler.manager`) over the compute database, and
heartbeats the ``nova-scheduler`` service of this host.
"""
from __future__ import annotations

from kumo.common.runtime import Component, Runtime
from kumo.compute.conductor import Heartbeat
from kumo.compute.models import open_database
from kumo.compute.scheduler.manager import Scheduler


def component(rt: Runtime) -> Component:
    """The scheduler: no API, a bus listener and a heartbeat."""
    settings = rt.settings
    db = open_database(settings.database_url("compute"))
    scheduler = Scheduler(db, rt.bus, settings)
    heartbeat = Heartbeat(db, settings.common.host, "nova-scheduler", "scheduler")

    async def start() -> None:
        await db.create_schema()
        await rt.bus.serve("scheduler", scheduler, server=settings.common.host)
        await heartbeat.start()

    async def stop() -> None:
        await heartbeat.stop()
        await rt.bus.unserve(scheduler)
        await db.close()

    return Component(name="scheduler", starters=[start], stoppers=[stop])
