"""The compute agent (nova-compute): runs the instances of one node.

``component(rt)`` -> Component ``compute-agent``. ``start()`` connects the
driver named by ``[compute] driver`` (``libvirt`` or ``fake``), prepares the
instances directory and image cache, reconciles the host with the database
(orphan guests destroyed, interrupted tasks settled), serves bus topic
``compute`` with server ``[common] host`` (so ``compute.<host>`` reaches it)
and starts the periodic tasks: at once and every :data:`REPORT_INTERVAL`
seconds ``service_heartbeat(host, "nova-compute", "compute")`` and
``report_compute_node(node)`` to the conductor; every ``[compute]
sync_power_state_interval`` seconds (and soon after a guest's lifecycle event,
when the driver sends them) the power-state sync; every ``[compute]
image_cache_interval`` seconds the image cache ageing (both in
:mod:`kumo.compute.agent.sync`). ``stop()`` undoes that (running guests keep running).

Bus methods (see :class:`kumo.compute.agent.manager.ComputeEndpoint`):
``build_instance(instance)``, ``terminate_instance(instance)`` (casts),
``get_console_output(instance, length)`` (call, returns str),
``get_vnc_console(instance)`` (call, returns ``{"host", "port", "internal_access_path"}``),
``stop_instance(instance)``, ``start_instance(instance)``,
``reboot_instance(instance, reboot_type)``, ``attach_interface(instance, network_id,
port_id, fixed_ip)`` and ``detach_interface(instance, port_id)`` (calls).
"""
from __future__ import annotations

import asyncio
import logging

from kumo.common.runtime import Component
from kumo.compute.agent.manager import ComputeEndpoint, ComputeManager
from kumo.compute.virt import load_driver

log = logging.getLogger(__name__)

#: seconds between two heartbeats/resource reports
REPORT_INTERVAL = 10.0


#: seconds the power-state sync waits after a hypervisor lifecycle event before it runs (the
#: operation that caused the event has its task and lock until it wrote its own result)
EVENT_SETTLE = 1.0


async def _periodic(name: str, step, interval: float, stopping: asyncio.Event, first: float = 0.0,
                    wake: asyncio.Event | None = None) -> None:
    """Await ``step()`` after ``first`` seconds and then every ``interval`` seconds until
    ``stopping`` is set; ``wake`` set runs it early (after :data:`EVENT_SETTLE` s). A failing
    step is logged and tried again next time."""
    # An event, not only cancellation: Python 3.11's wait_for (inside bus.call) can
    # swallow a cancel that lands just as the call completes.
    delay = first
    while not stopping.is_set():
        if delay > 0:
            waits = [asyncio.ensure_future(stopping.wait())]
            if wake is not None:
                waits.append(asyncio.ensure_future(wake.wait()))
            try:
                await asyncio.wait(waits, timeout=delay, return_when=asyncio.FIRST_COMPLETED)
            finally:
                for w in waits:
                    w.cancel()
            if stopping.is_set():
                return
            if wake is not None and wake.is_set():
                wake.clear()
                await asyncio.sleep(EVENT_SETTLE)
        try:
            await step()
        except Exception as e:  # conductor not up yet, hypervisor hiccup: try again next time
            log.warning("%s failed: %s", name, e)
        delay = interval


def component(rt, interval: float = REPORT_INTERVAL) -> Component:
    """The compute agent component; ``comp.manager`` and ``comp.driver`` are exposed for tests."""
    driver = load_driver(rt.settings)
    manager = ComputeManager(rt, driver)
    endpoint = ComputeEndpoint(manager)
    comp = Component(name="compute-agent")
    comp.manager, comp.driver = manager, driver
    tasks: list[asyncio.Task] = []
    stopping = asyncio.Event()

    wake = asyncio.Event()  # a guest's lifecycle event: sync power states now

    async def start() -> None:
        loop = asyncio.get_running_loop()
        driver.watch_lifecycle(lambda _uuid: loop.call_soon_threadsafe(wake.set))
        await manager.prepare()
        await rt.bus.serve("compute", endpoint, server=rt.settings.common.host)
        stopping.clear()
        tasks.append(loop.create_task(_periodic("compute node report", manager.report, interval, stopping)))
        compute = rt.settings.compute
        if compute.sync_power_state_interval > 0:
            tasks.append(loop.create_task(_periodic(
                "power state sync", manager.sync_power_states, compute.sync_power_state_interval, stopping,
                first=compute.sync_power_state_interval, wake=wake)))
        if compute.image_cache_interval > 0:
            tasks.append(loop.create_task(_periodic(
                "image cache ageing", manager.age_image_cache, compute.image_cache_interval, stopping,
                first=compute.image_cache_interval)))

    async def stop() -> None:
        stopping.set()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        tasks.clear()
        await rt.bus.unserve(endpoint)
        await driver.close()

    comp.starters.append(start)
    comp.stoppers.append(stop)
    return comp
