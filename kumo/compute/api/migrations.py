"""Migrations (Compute API reference "Migrations (os-migrations)"): ``GET /v2.1/os-migrations``.

kumo migrates only by resizing on the same host, so every record is ``migration_type`` resize
(kumo/compute/migrations.py). Admin only (``os_compute_api:os-migrations:index``).
"""
from __future__ import annotations

from starlette.requests import Request
from starlette.routing import Route

from kumo.compute import migrations
from kumo.compute.api.common import at_least, authorize, ok
from kumo.compute.objects import nova_time


def _view(request: Request, row) -> dict:
    body = {"id": row.id, "status": row.status, "instance_uuid": row.instance_uuid,
            "source_node": row.source_node, "source_compute": row.source_compute,
            "dest_node": row.dest_node, "dest_compute": row.dest_compute, "dest_host": None,
            "old_instance_type_id": row.old_instance_type_id,
            "new_instance_type_id": row.new_instance_type_id,
            "created_at": nova_time(row.created_at), "updated_at": nova_time(row.updated_at)}
    if at_least(request, 2, 23):
        body["migration_type"] = row.migration_type
    if at_least(request, 2, 59):
        body["uuid"] = row.uuid
    if at_least(request, 2, 80):
        body.update(user_id=row.user_id, project_id=row.project_id)
    return body


async def list_migrations(request: Request):
    """GET /os-migrations -> 200 {"migrations": [...]} newest first; filters instance_uuid,
    status, migration_type, host (source compute), user_id / project_id (2.80); 403 non-admin."""
    authorize(request, "os_compute_api:os-migrations:index")
    q = request.query_params
    filters = {"instance_uuid": q.get("instance_uuid"), "status": q.get("status"),
               "migration_type": q.get("migration_type"), "source_compute": q.get("host")}
    if at_least(request, 2, 80):
        filters.update(user_id=q.get("user_id"), project_id=q.get("project_id"))
    async with request.app.state.db.session() as s:
        rows = await migrations.list_migrations(s, filters)
    return ok({"migrations": [_view(request, r) for r in rows]})


def routes() -> list[Route]:
    """The os-migrations route (under /v2.1)."""
    return [Route("/v2.1/os-migrations", list_migrations, methods=["GET"])]
