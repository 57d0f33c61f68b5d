"""The supervisor: run a set of components in one process.

APIs start first and are served by uvicorn on their ports; agents start once
the APIs answer (they call them at start-up). SIGTERM/SIGINT stop everything
in reverse order. ``kumo up`` runs every component this way in the
background; ``kumo serve NAME...`` runs some of them in the foreground.
"""
from __future__ import annotations

import asyncio
import contextlib
import gc
import importlib
import logging
import signal

import uvicorn

from kumo.common.runtime import Component, Runtime
from kumo.config import Settings

log = logging.getLogger("kumo.supervisor")

#: Component name -> "module:factory". APIs first, then agents.
COMPONENTS: dict[str, str] = {
    "identity-api": "kumo.identity.api:component",
    "image-api": "kumo.image.api:component",
    "image-api-remote": "kumo.image.api:remote_component",  # the second image worker ([image] remote_port)
    "network-api": "kumo.network.api:component",
    "compute-api": "kumo.compute.api:component",
    "metadata-api": "kumo.compute.metadata:component",
    "novncproxy": "kumo.compute.novncproxy:component",  # VNC consoles in the browser ([vnc] port)
    "scheduler": "kumo.compute.scheduler:component",
    "compute-agent": "kumo.compute.agent:component",
    "l2-agent": "kumo.network.agents.l2:component",
    "dhcp-agent": "kumo.network.agents.dhcp:component",
    "l3-agent": "kumo.network.agents.l3:component",
}

#: Components whose ``app`` is an HTTP API (name -> settings section of its port).
API_SECTIONS = {"identity-api": "identity", "image-api": "image", "image-api-remote": "image",
                "network-api": "network",
                "compute-api": "compute", "metadata-api": "metadata",
                "novncproxy": "vnc"}
#: The settings field of an API's port when it is not its section's ``port``.
_PORT_FIELDS = {"image-api-remote": "remote_port"}


def api_port(settings, name: str) -> int:
    """The port API component ``name`` listens on (0: it is switched off)."""
    return getattr(getattr(settings, API_SECTIONS[name]), _PORT_FIELDS.get(name, "port"))


def load(name: str):
    """The factory of component ``name``; KeyError for an unknown name."""
    module, _, attr = COMPONENTS[name].partition(":")
    return getattr(importlib.import_module(module), attr)


class _Server(uvicorn.Server):
    """A uvicorn server that leaves signal handling to the supervisor."""

    @contextlib.contextmanager
    def capture_signals(self):
        yield


def event_loop_factory():
    """uvloop's loop factory when uvloop is installed (faster sockets and HTTP), else None (asyncio's).

    uvicorn parses HTTP with httptools when it is installed (its ``http="auto"``).
    """
    try:
        import uvloop
    except ImportError:
        return None
    return uvloop.new_event_loop


def main(settings: Settings, names: list[str]) -> None:
    """Run ``names`` (see :func:`run`) on a new event loop from :func:`event_loop_factory`."""
    with asyncio.Runner(loop_factory=event_loop_factory()) as runner:
        runner.run(run(settings, names))


async def run(settings: Settings, names: list[str]) -> None:
    """Run ``names`` until SIGTERM/SIGINT. Raises on a component that fails to start."""
    rt = Runtime.create(settings)
    await rt.bus.start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)

    started: list[Component] = []
    servers: list[tuple[_Server, asyncio.Task]] = []
    apis = [n for n in names if n in API_SECTIONS]
    agents = [n for n in names if n not in API_SECTIONS]
    try:
        for name in apis:
            comp = load(name)(rt)
            await comp.start()
            started.append(comp)
            for port in [p for p in [comp.port, *comp.extra_ports] if p]:  # extra_ports: e.g. identity's admin port
                cfg = uvicorn.Config(comp.app, host=settings.common.bind_host, port=port,
                                     log_level="warning", lifespan="off", access_log=False)
                server = _Server(cfg)
                servers.append((server, asyncio.create_task(server.serve(), name=name)))
        for server, task in servers:
            while not server.started:
                if task.done():
                    task.result()  # raises the bind error
                    raise RuntimeError(f"{task.get_name()} stopped during start-up")
                await asyncio.sleep(0.05)
            log.info("%s listening on %s:%s", task.get_name(), settings.common.bind_host, server.config.port)
        for name in agents:
            comp = load(name)(rt)
            await comp.start()
            started.append(comp)
            log.info("%s started", name)
        log.info("kumo is up: %s", ", ".join(names))
        # Everything made while starting (modules, apps, settings) lives as long as the process: keep it
        # out of the garbage collector's generations so full collections stay short under load (tail latency).
        gc.collect()
        gc.freeze()
        waiters = [asyncio.create_task(stop.wait())] + [t for _, t in servers]
        done, _ = await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
        for task in done:
            if task is not waiters[0] and task.exception():
                log.error("%s failed: %s", task.get_name(), task.exception())
    finally:
        log.info("stopping")
        for server, _ in servers:
            server.should_exit = True
        await asyncio.gather(*(t for _, t in servers), return_exceptions=True)
        for comp in reversed(started):
            try:
                await comp.stop()
            except Exception:
                log.exception("stopping %s failed", comp.name)
        await rt.bus.close()
        await rt.service_auth.close()
