"""Task records (Image API v2 "Tasks" and "Show image tasks").

Every import runs as a task: ``api_image_import`` for ``POST
/v2/images/{id}/import`` (input ``{"image_id", "import_req", "backend"}``) and
``import`` for the legacy ``POST /v2/tasks`` (input ``{"import_from",
"import_from_format", "image_properties"}``). Status goes ``processing`` ->
``success`` (result ``{"image_id": ...}``) or ``failure`` (``message`` says
why); a finished task expires 48 hours later, as glance's
``task_time_to_live``.

Access: ``/v2/tasks`` is for admins (glance's ``tasks_api_access``: 403
otherwise); an image's tasks are shown to whoever may see the image (404).
"""
from __future__ import annotations

import json
from datetime import timedelta

from sqlalchemy import select, update

from kumo.common.api.errors import BadRequest, NotFound
from kumo.common.auth.context import RequestContext
from kumo.common.db import Database, new_id, utcnow
from kumo.image import policy, schemas
from kumo.image.models import ImageTask

TIME_TO_LIVE = timedelta(hours=48)
DEFAULT_LIMIT, MAX_LIMIT = 25, 1000


def check_tasks_api(ctx: RequestContext, action: str) -> None:
    """403 unless rules ``tasks_api_access`` and ``action`` (``get_task``, ``get_tasks``,
    ``add_task``) allow the caller (admins by default)."""
    policy.authorize(ctx, "tasks_api_access")
    policy.authorize(ctx, action)


class TaskService:
    """Task rows in ``db``."""

    def __init__(self, db: Database):
        self.db = db

    async def add(self, ctx: RequestContext, type_: str, task_input: dict, image_id: str | None,
                  owner: str | None = None) -> ImageTask:
        """Record a new ``processing`` task started by the caller's request."""
        now = utcnow()
        task = ImageTask(id=new_id(), type=type_, status="processing", owner=owner or ctx.project_id,
                         input=json.dumps(task_input), image_id=image_id, request_id=ctx.request_id,
                         user_id=ctx.user_id, created_at=now, updated_at=now)
        async with self.db.session() as s:
            s.add(task)
        return task

    async def finish(self, task_id: str, ok: bool, result: dict | None = None, message: str = "") -> None:
        """Mark the task ``success`` or ``failure`` (with ``message``); it expires in 48 hours."""
        now = utcnow()
        async with self.db.session() as s:
            await s.execute(update(ImageTask).where(ImageTask.id == task_id).values(
                status="success" if ok else "failure", result=json.dumps(result) if result else None,
                message=message, updated_at=now, expires_at=now + TIME_TO_LIVE))

    async def fail_interrupted(self) -> None:
        """Fail tasks a restart interrupted (still ``pending`` or ``processing``)."""
        now = utcnow()
        async with self.db.session() as s:
            await s.execute(update(ImageTask).where(ImageTask.status.in_(("pending", "processing")))
                            .values(status="failure", message="The image service restarted during the task.",
                                    updated_at=now, expires_at=now + TIME_TO_LIVE))

    async def get(self, ctx: RequestContext, task_id: str) -> ImageTask:
        """One task (admins; 403 otherwise, 404 unknown)."""
        check_tasks_api(ctx, "get_task")
        async with self.db.session() as s:
            task = await s.get(ImageTask, task_id)
        if task is None:
            raise NotFound(f"Task with identifier {task_id} not found")
        return task

    async def list(self, ctx: RequestContext, params: dict[str, str]) -> tuple[list[ImageTask], bool]:
        """A page of tasks, newest first, filtered by ``type`` and ``status``; ``limit``/``marker``.

        Returns the tasks and whether more follow. 400 for a bad filter value.
        """
        check_tasks_api(ctx, "get_tasks")
        stmt = select(ImageTask)
        if "type" in params:
            if params["type"] not in schemas.TASK_TYPES:
                raise BadRequest(f"Invalid type value: {params['type']}")
            stmt = stmt.where(ImageTask.type == params["type"])
        if "status" in params:
            if params["status"] not in schemas.TASK_STATUSES:
                raise BadRequest(f"Invalid status value: {params['status']}")
            stmt = stmt.where(ImageTask.status == params["status"])
        try:
            limit = min(int(params.get("limit", DEFAULT_LIMIT)), MAX_LIMIT)
        except ValueError:
            raise BadRequest("limit param must be an integer") from None
        if limit < 0:
            raise BadRequest("limit param must be positive")
        async with self.db.session() as s:
            if params.get("marker"):
                marker = await s.get(ImageTask, params["marker"])
                if marker is None:
                    raise BadRequest(f"Invalid marker. Task {params['marker']} could not be found.")
                stmt = stmt.where((ImageTask.created_at < marker.created_at)
                                  | ((ImageTask.created_at == marker.created_at) & (ImageTask.id < marker.id)))
            rows = list((await s.scalars(stmt.order_by(ImageTask.created_at.desc(), ImageTask.id.desc())
                                         .limit(limit + 1))).all())
        return rows[:limit], len(rows) > limit

    async def for_image(self, ctx: RequestContext, image_id: str) -> list[ImageTask]:
        """The tasks of an image the caller may see (404 otherwise), oldest first."""
        async with self.db.session() as s:
            await policy.load(s, ctx, image_id)
            rows = await s.scalars(select(ImageTask).where(ImageTask.image_id == image_id)
                                   .order_by(ImageTask.created_at, ImageTask.id))
            return list(rows.all())
