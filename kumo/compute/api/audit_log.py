"""Instance usage audit log (Compute API reference: "Server usage audit log
(os-instance-usage-audit-log)").

Nova's compute hosts can run a periodic usage audit and record one task log
per host and audit period (the month before the given time). kumo's agents
run no such audit, so every report says so truthfully: each compute host is
in ``hosts_not_run``, ``log`` is empty and nothing is counted. The period is
nova's: from the first day of the month before ``before`` (default: now) to
the first day of that month, 00:00 UTC.
"""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from starlette.requests import Request
from starlette.routing import Route

from kumo.common.api.errors import BadRequest
from kumo.common.db import utcnow
from kumo.compute.api.common import authorize, ok
from kumo.compute.models import Service

_FORMATS = ("%Y-%m-%d %H:%M:%S.%f", "%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M:%S.%f", "%Y-%m-%dT%H:%M:%S",
            "%Y-%m-%d")


def _period(before: datetime) -> tuple[datetime, datetime]:
    end = before.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    begin = end.replace(year=end.year - 1, month=12) if end.month == 1 else end.replace(month=end.month - 1)
    return begin, end


async def _report(request: Request, before: datetime) -> dict:
    begin, end = _period(before)
    async with request.app.state.db.session() as s:
        hosts = sorted(set((await s.execute(select(Service.host).where(
            Service.binary == "nova-compute"))).scalars().all()))
    return {"hosts_not_run": hosts, "log": {}, "num_hosts": len(hosts), "num_hosts_done": 0,
            "num_hosts_not_run": len(hosts), "num_hosts_running": 0,
            "overall_status": f"0 of {len(hosts)} hosts done. 0 errors.",
            "period_beginning": str(begin), "period_ending": str(end), "total_errors": 0,
            "total_instances": 0}


async def list_audit_logs(request: Request):
    """GET /os-instance_usage_audit_log (admin) -> 200 {"instance_usage_audit_logs": {"hosts_not_run",
    "log", "num_hosts", ..., "period_beginning", "period_ending"}} for the last complete month."""
    authorize(request, "os_compute_api:os-instance-usage-audit-log:list")
    return ok({"instance_usage_audit_logs": await _report(request, utcnow())})


async def show_audit_log(request: Request):
    """GET /os-instance_usage_audit_log/{before_timestamp} (admin) -> 200 {"instance_usage_audit_log":
    {...}} for the month before the timestamp; 400 when it is not a date and time."""
    authorize(request, "os_compute_api:os-instance-usage-audit-log:show")
    raw = request.path_params["before"]
    for fmt in _FORMATS:
        try:
            before = datetime.strptime(raw, fmt)
            break
        except ValueError:
            continue
    else:
        raise BadRequest(f"Invalid timestamp for date {raw}")
    return ok({"instance_usage_audit_log": await _report(request, before)})


def routes() -> list[Route]:
    """The os-instance_usage_audit_log routes."""
    p = "/v2.1/os-instance_usage_audit_log"
    return [Route(p, list_audit_logs, methods=["GET"]),
            Route(p + "/{before}", show_audit_log, methods=["GET"])]
