"""``kumo up``: prepare the host, start the cloud, create the demo data, say how to use it.

Safe to run again: settings and passwords are kept, a running supervisor is
reused, and demo data is only created where missing.
"""
from __future__ import annotations

import asyncio
import json
import os
import secrets
import time
from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

from kumo import config
from kumo.cli import daemon, demo, files

console = Console()


def ensure_settings(config_file: str) -> config.Settings:
    """Load the settings file, writing one with fresh secrets if it is missing."""
    path = Path(config_file)
    if not path.exists():
        settings = config.load(path="/nonexistent")
        settings.service_user.password = secrets.token_urlsafe(18)
        settings.metadata.shared_secret = secrets.token_urlsafe(24)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(config.dump_toml(settings, changed_only=True))
    return config.load(str(path))


def ensure_passwords(settings: config.Settings) -> dict[str, str]:
    """The admin and demo passwords, made once and kept in ``<state>/passwords.json`` (0600)."""
    path = settings.path("passwords.json")
    if path.exists():
        return json.loads(path.read_text())
    path.parent.mkdir(parents=True, exist_ok=True)
    pw = {"admin": secrets.token_urlsafe(12), "demo": secrets.token_urlsafe(12)}
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        json.dump(pw, f)
    return pw


async def prepare_host(settings: config.Settings) -> None:
    """libvirt daemons, the provider bridges with the gateway address, IP forwarding."""
    from kumo.common.host import net
    from kumo.compute.virt.libvirt.host import ensure_libvirtd

    if settings.compute.driver == "libvirt":
        await asyncio.to_thread(ensure_libvirtd)
    for physnet, bridge in settings.network.physical_bridges.items():
        cidr = f"{demo.PUBLIC_GATEWAY}/24" if physnet == "public" else None
        await net.ensure_bridge(bridge, cidr)
    Path("/proc/sys/net/ipv4/ip_forward").write_text("1\n")


async def release_host(settings: config.Settings) -> list[str]:
    """After ``kumo down``: remove the provider bridges no guest uses any more; returns their names.

    A bridge that still has ports (a guest kept running) stays, with its address.
    """
    from kumo.common.host import net

    removed = []
    for bridge in settings.network.physical_bridges.values():
        if await net.link_exists(bridge) and not await net.bridge_ports(bridge):
            await net.delete_link(bridge)
            removed.append(bridge)
    return removed


def extra_endpoints(settings: config.Settings) -> dict[str, str]:
    """Catalog entries beyond the standard services: ``image_remote``, the second image worker
    (``[image] remote_port``, tempest's ``alternate_image_endpoint``), when it runs."""
    port = settings.image.remote_port
    return {"image_remote": f"http://{settings.common.public_host}:{port}"} if port else {}


def up(config_file: str | None, image: str | None = None, demo_data: bool = True) -> int:
    """Run every step; returns the process exit code (0 when the cloud is up)."""
    if os.geteuid() != 0:
        console.print("[red]kumo up needs root[/] (bridges, libvirt, dnsmasq)")
        return 1
    config_file = config_file or os.environ.get("KUMO_CONFIG", config.DEFAULT_CONFIG)
    started = time.monotonic()
    columns = (SpinnerColumn(), TextColumn("{task.description}"), BarColumn(), TimeElapsedColumn())
    with Progress(*columns, console=console, transient=False) as progress:
        task = progress.add_task("settings", total=6)

        def step(text: str) -> None:
            progress.update(task, description=text)

        settings = ensure_settings(config_file)
        passwords = ensure_passwords(settings)
        progress.advance(task)

        step("host: libvirt, bridges")
        asyncio.run(prepare_host(settings))
        progress.advance(task)

        step("identity bootstrap")
        from kumo.identity.bootstrap import bootstrap
        asyncio.run(bootstrap(settings, admin_password=passwords["admin"],
                              service_password=settings.service_user.password,
                              region=settings.common.region, endpoints=extra_endpoints(settings)))
        progress.advance(task)

        step("starting services")
        daemon.start(settings, config_file)
        down = daemon.wait_apis(settings, on_up=lambda s: step(f"{s} answering"))
        if down:
            console.print(f"[red]not answering:[/] {', '.join(down)}; see {daemon.log_file(settings)}")
            return 1
        progress.advance(task)

        if demo_data:
            image_path = Path(image) if image else None
            try:
                demo.create_demo(settings, passwords["admin"], passwords["demo"], image_path,
                                 step=lambda s: step(f"demo data: {s}"))
            except demo.DemoError as e:
                console.print(f"[red]demo data failed:[/] {e}")
                return 1
        progress.advance(task)

        step("clouds.yaml and openrc files")
        clouds = files.write_clouds_yaml(settings, passwords)
        rcs = [files.write_openrc(settings, u, passwords[u]) for u in ("admin", "demo")]
        progress.advance(task)
        step(f"kumo is up ({time.monotonic() - started:.1f} s)")

    console.print(f"""
[bold green]kumo is up[/] in {time.monotonic() - started:.1f} s.  Dashboard of services: [bold]kumo status[/]

  export OS_CLOUD=demo        # or admin; clouds in {clouds}
  (or: source {rcs[1]})
  openstack server create --flavor m1.nano --image cirros --network public --key-name mykey vm1 --wait

Guests on network 'public' (172.24.4.0/24) are reachable from this host; user 'cirros'.
Logs: {daemon.log_file(settings)}    Stop: make down (data is kept)
""")
    return 0
