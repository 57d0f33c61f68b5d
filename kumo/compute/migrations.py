"""Migration records of resizes (Compute API reference "Migrations (os-migrations)").

A resize writes a :class:`~kumo.compute.models.Migration` (status ``pre-migrating``); the
agent's state updates carry ``migration_status`` to the conductor, which calls
:func:`set_status` (``finished`` when the server is VERIFY_RESIZE, then ``confirmed`` or
``reverted``; ``error`` when the resize failed).
"""
from __future__ import annotations

from sqlalchemy import select

from kumo.common.db import utcnow
from kumo.compute.models import Flavor, Instance, Migration


async def start_resize(session, inst: Instance, old: dict, new: dict) -> Migration:
    """Add the migration of a same-host resize of ``inst`` from flavor ``old`` to ``new``."""
    ids = dict((await session.execute(select(Flavor.flavorid, Flavor.id).where(
        Flavor.flavorid.in_([old.get("id"), new.get("id")])))).all())
    row = Migration(instance_uuid=inst.uuid, migration_type="resize", status="pre-migrating",
                    source_compute=inst.host, source_node=inst.node, dest_compute=inst.host,
                    dest_node=inst.node, old_instance_type_id=ids.get(old.get("id")),
                    new_instance_type_id=ids.get(new.get("id")), project_id=inst.project_id,
                    user_id=inst.user_id)
    session.add(row)
    return row


async def set_status(session, instance_uuid: str, status: str) -> None:
    """Set the status of the instance's newest migration (none: nothing to do)."""
    row = (await session.execute(select(Migration).where(Migration.instance_uuid == instance_uuid)
                                 .order_by(Migration.id.desc()).limit(1))).scalar_one_or_none()
    if row is not None:
        row.status, row.updated_at = status, utcnow()


async def list_migrations(session, filters: dict) -> list[Migration]:
    """Migrations, newest first, filtered by ``instance_uuid``, ``status``, ``migration_type``,
    ``source_compute`` (host) and ``project_id`` / ``user_id`` when given."""
    stmt = select(Migration).order_by(Migration.created_at.desc(), Migration.id.desc())
    for key, value in filters.items():
        if value is not None:
            stmt = stmt.where(getattr(Migration, key) == value)
    return list((await session.execute(stmt)).scalars().all())
