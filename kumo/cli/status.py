"""``kumo status``: every component up (:-)) or down (XXX).

APIs are probed on their ports; compute services and network agents are read
from ``GET /os-services`` and ``GET /v2.0/agents`` as the admin user, and
shown like the seeds' ``nova-manage service list``.
"""
from __future__ import annotations

import json

from rich.console import Console
from rich.table import Table

from kumo.cli import daemon, demo
from kumo.cli.supervisor import API_SECTIONS, api_port
from kumo.config import Settings

SMILE, DOWN = ":-)", "XXX"


async def show(settings: Settings) -> int:
    """Print the table; returns 0 when everything is up, 1 otherwise."""
    console = Console()
    table = Table("Binary", "Host", "Zone", "Status", "State", "Updated_At")
    all_up = True
    pid = daemon.running_pid(settings)
    table.add_row("kumo-supervisor", settings.common.host, "internal", "enabled",
                  SMILE if pid else DOWN, f"pid {pid}" if pid else "-")
    all_up &= bool(pid)
    for name in API_SECTIONS:
        port = api_port(settings, name)
        if not port:
            continue
        ok = daemon.api_up(settings, name)
        all_up &= ok
        table.add_row(f"kumo-{name}", settings.common.host, "internal", "enabled",
                      SMILE if ok else DOWN, f"port {port}")
    rows = _service_rows(settings) if pid else []
    for binary, host, zone, status, up, updated in rows:
        all_up &= up
        table.add_row(binary, host, zone, status, SMILE if up else DOWN, updated or "-")
    console.print(table)
    return 0 if all_up else 1


def _service_rows(settings: Settings) -> list[tuple]:
    try:
        passwords = json.loads(settings.path("passwords.json").read_text())
        client = demo.AdminClient(settings, passwords["admin"])
        services = client.call("compute", "GET", "/os-services")["services"]
        agents = client.call("network", "GET", "/v2.0/agents")["agents"]
    except Exception as e:  # status must always print, whatever is broken
        return [("(services)", settings.common.host, "-", "-", False, f"unavailable: {e}")]
    rows = [(s["binary"], s["host"], s["zone"], s["status"], s["state"] == "up", s.get("updated_at"))
            for s in services]
    rows += [(a["binary"], a["host"], a.get("availability_zone") or "internal",
              "enabled" if a.get("admin_state_up", True) else "disabled", bool(a["alive"]),
              a.get("heartbeat_timestamp")) for a in agents]
    return rows
