"""Interoperable image import (Image API v2 "Interoperable image import") and legacy import tasks.

- ``stage``: ``PUT /v2/images/{id}/stage`` streams data into the staging
  store (``[image] staging_dir``); the image goes ``queued`` -> ``uploading``
  and records the staged size and the staging worker (``os_glance_stage_host``,
  :mod:`kumo.image.workers`). A failed stage returns it to ``queued`` with
  nothing staged.
- ``start_import``: ``POST /v2/images/{id}/import`` with method
  ``glance-direct`` (an ``uploading`` image), ``web-download`` (a ``queued``
  image and an http(s) ``uri``) or ``glance-download`` (a ``queued`` image and
  ``glance_image_id``, ``glance_region``, ``glance_service_interface``: an image
  of the cloud's image API in that region, read with the caller's token; its
  disk/container formats and ``hw_*``, ``trait:*``, ``os_distro``,
  ``os_secure_boot``, ``os_type`` properties are copied) moves the image to
  ``importing``, records an ``api_image_import`` task and the
  ``os_glance_import_task`` property, and returns; the work runs in the background.
  A glance-direct import of data staged on another worker is forwarded to it.
- ``create_task``: ``POST /v2/tasks`` (type ``import``, admins) creates an
  image from ``image_properties`` and web-downloads ``import_from`` into it.

The background work downloads (web-download, bounded by the size cap and
storage quota), checks and converts the data (:mod:`kumo.image.convert`), then
streams it into the image store and activates the image. On failure the image
returns to ``queued`` with ``os_glance_failed_import`` set and no data in the
store or staging area, and the task fails with the reason.

Errors: 400 for a bad body, an unknown or disabled method, a URL that does not
pass filtering, missing disk/container formats; 403 when the caller may not
write the image; 404 unknown image; 409 for the wrong image status or an
unknown store; 413 past the size cap or a quota.
"""
from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import AsyncIterable, Sequence

import httpx

from sqlalchemy import select, update

from kumo.common.api.errors import ApiError, BadRequest, Conflict, PayloadTooLarge
from kumo.common.auth.context import RequestContext
from kumo.common.db import utcnow
from kumo.image import convert, fetch, policy, quota, replicate
from kumo.image.formats import FormatRejected
from kumo.image.models import Image
from kumo.image.service import ImageService
from kumo.image.store import SizeLimitExceeded
from kumo.image.tasks import TaskService, check_tasks_api
from kumo.image.workers import STAGE_HOST, Workers

log = logging.getLogger(__name__)

METHODS = ("glance-direct", "web-download", "glance-download", "copy-image")
#: Properties glance-download copies from the source image (glance's ``glance_download_properties``).
COPIED_PREFIXES = ("hw_", "trait:", "os_distro", "os_secure_boot", "os_type")
TASK_PROPERTY, FAILED_PROPERTY = "os_glance_import_task", "os_glance_failed_import"


class ImportFailed(Exception):
    """The background import could not complete (the message is the task's)."""


class ImportService:
    """Staging and imports for the images of ``images``; tasks recorded in ``tasks``.

    ``methods``: the enabled import methods; ``target_format``: convert imports
    to it ("" keeps the format); ``allowed_ports``/``download_timeout``: web-download
    limits (``[image]`` settings); ``http``: the client glance-download reads
    image APIs with (without one, that method is not offered).
    """

    def __init__(self, images: ImageService, tasks: TaskService, methods: Sequence[str] = METHODS,
                 target_format: str = "qcow2", allowed_ports: Sequence[int] = (),
                 download_timeout: float = 600, http: httpx.AsyncClient | None = None,
                 workers: Workers | None = None):
        if images.staging is None:
            raise ValueError("imports need a staging store")
        self.images, self.tasks = images, tasks
        self.staging = images.staging
        self.http = http
        self.workers = workers or Workers()
        self.methods = [m for m in methods if m in METHODS and (m != "glance-download" or http)]
        self.target_format = target_format if target_format in convert.TARGETS else ""
        self.allowed_ports = list(allowed_ports)
        self.download_timeout = download_timeout
        self._running: set[asyncio.Task] = set()

    async def start(self) -> None:
        """Clean up after a crash: requeue interrupted imports and stages, fail their tasks, and
        keep staged data only for images still ``uploading``."""
        self.staging.prepare()
        staged = [p.name for p in self.staging.root.iterdir() if "." not in p.name]
        async with self.images.db.session() as s:
            busy = (await s.scalars(select(Image).where(Image.status.in_(("importing", "uploading"))))).all()
            mine = [i for i in busy if self.workers.owns(i)]
            for image in mine:
                if image.status == "importing" or image.id not in staged:
                    image.status, image.size, image.updated_at = "queued", None, utcnow()
            keep = {i.id for i in busy if i.status == "uploading"}
        for image_id in staged:
            if image_id not in keep:
                await self.staging.delete(image_id)
        await self.tasks.fail_interrupted()

    async def stop(self) -> None:
        """Cancel running imports (their images return to ``queued`` on the next start)."""
        for task in list(self._running):
            task.cancel()
        if self._running:
            await asyncio.gather(*self._running, return_exceptions=True)

    async def drain(self) -> None:
        """Wait for the running imports (tests)."""
        while self._running:
            await asyncio.gather(*list(self._running), return_exceptions=True)

    # --- stage ------------------------------------------------------------------------------

    async def stage(self, ctx: RequestContext, image_id: str, chunks: AsyncIterable[bytes],
                    declared_size: int | None = None) -> None:
        """Stage the image's data for ``glance-direct``: queued -> uploading (409 otherwise)."""
        async with self.images.db.session() as s:
            image = await policy.load(s, ctx, image_id)
            policy.check_write(ctx, image, "upload_image")
            if image.status != "queued":
                raise Conflict(f"Image status transition from {image.status} to uploading is not allowed")
            cap = await quota.staging_room(s, self.images.limits, image.owner, self.images.size_cap)
            if declared_size is not None and declared_size > cap:
                raise PayloadTooLarge("The provided image is too large.")
            await quota.check_start_upload(s, self.images.limits, image.owner)
            moved = await s.execute(update(Image).where(Image.id == image_id, Image.status == "queued")
                                    .values(status="uploading", updated_at=utcnow()))
            if moved.rowcount != 1:
                raise Conflict("Image status transition from uploading to uploading is not allowed")
        try:
            stored = await self.staging.write(image_id, chunks, size_cap=cap)
            async with self.images.db.session() as s:
                image = await s.get(Image, image_id, populate_existing=True)
                if image is None or image.status != "uploading":
                    raise Conflict(f"Image {image_id} was deleted or changed during staging.")
                image.size, image.updated_at = stored.size, utcnow()
                self.images.change_extra(image, self.workers.stage_marker())
        except BaseException as e:
            await asyncio.shield(self.staging.delete(image_id))
            await self.images.requeue(image_id, "uploading", {STAGE_HOST: None})
            if isinstance(e, SizeLimitExceeded):
                raise PayloadTooLarge("The provided image is too large.") from None
            raise

    # --- import -----------------------------------------------------------------------------

    def _targets(self, body: dict) -> list[str]:
        """The file stores an import writes to: ``stores`` and/or ``all_stores`` (409 for an
        unknown or read-only store), else the default store."""
        stores = body.get("stores")
        if stores is not None:
            if not isinstance(stores, list) or not all(isinstance(x, str) for x in stores):
                raise BadRequest("'stores' must be a list of store identifiers.")
            for store in stores:
                self.images.stores.check_writable(store, Conflict)
        for flag in ("all_stores", "all_stores_must_succeed"):
            if flag in body and not isinstance(body[flag], bool):
                raise BadRequest(f"'{flag}' must be a boolean.")
        if body.get("all_stores"):
            if stores:
                raise BadRequest("'stores' and 'all_stores' cannot be combined.")
            return self.images.stores.writable
        return self.images.stores.ordered(stores) if stores else [self.images.stores.default]

    def _parse(self, body: object) -> tuple[str, object]:
        if not isinstance(body, dict) or not isinstance(body.get("method"), dict):
            raise BadRequest("Request body must have a 'method' object.")
        name = body["method"].get("name")
        if name not in self.methods:
            raise BadRequest(f"Import method {name!r} is not valid; available: {', '.join(self.methods)}.")
        if name == "web-download":
            return name, fetch.check_url(body["method"].get("uri"), self.allowed_ports)
        if name == "glance-download":
            return name, _glance_source(body["method"])
        return name, None

    async def start_import(self, ctx: RequestContext, image_id: str, body: object) -> None:
        """Begin importing (202 for the API); the image goes ``importing`` and a task records the run."""
        method, source = self._parse(body)
        targets = self._targets(body)
        if method == "copy-image":
            return await self._start_copy(ctx, image_id, body, targets)
        if method == "glance-download":
            source = dict(source, token=ctx.token, catalog=ctx.catalog)
        async with self.images.db.session() as s:
            image = await policy.load(s, ctx, image_id)
            policy.check_write(ctx, image, "import_image")
            if not image.disk_format or not image.container_format:
                raise BadRequest("'disk_format' and 'container_format' need to be set before import.")
            wanted = "uploading" if method == "glance-direct" else "queued"
            remote = self.workers.elsewhere(image) if method == "glance-direct" else None
            if image.status != wanted:
                if method == "glance-direct":
                    raise Conflict("Image needs to be staged before 'glance-direct' method can be used")
                raise Conflict(f"Image status {image.status} is not valid for the {method} method")
            if method != "glance-direct":
                await quota.check_start_upload(s, self.images.limits, image.owner)
        if remote is not None:  # staged on another worker: only it can read the data
            await self.workers.forward(ctx, remote, "POST", f"/v2/images/{image_id}/import", json=body)
            return
        task = await self.tasks.add(ctx, "api_image_import", {
            "image_id": image_id, "import_req": body, "backend": targets}, image_id, owner=image.owner)
        await self._begin(image_id, wanted, task.id, method, source, targets)

    async def _start_copy(self, ctx: RequestContext, image_id: str, body: dict, targets: list[str]) -> None:
        """``copy-image``: copy an ``active`` image's data into more stores (admins; 409 otherwise)."""
        async with self.images.db.session() as s:
            image = await policy.load(s, ctx, image_id)
            policy.check_write(ctx, image, "copy_image")
            if image.status != "active":
                raise Conflict(f"Image status {image.status} is not valid for the copy-image method")
            have = {loc.store for loc in image.locations}
            if not body.get("all_stores") and have & set(targets):
                raise Conflict(f"Image is already present at store(s) {', '.join(sorted(have & set(targets)))}")
            todo = [t for t in targets if t not in have]
            self.images.change_extra(image, {replicate.IMPORTING: ",".join(todo), FAILED_PROPERTY: ""})
        task = await self.tasks.add(ctx, "api_image_import", {
            "image_id": image_id, "import_req": body, "backend": todo}, image_id, owner=image.owner)
        job = asyncio.get_running_loop().create_task(self._copy(image_id, task.id, todo))
        self._running.add(job)
        job.add_done_callback(self._running.discard)

    async def _copy(self, image_id: str, task_id: str, todo: list[str]) -> None:
        try:
            failed = await replicate.copy_to_stores(self.images, image_id, todo)
        except BaseException:
            await asyncio.shield(self.tasks.finish(task_id, False, message="the copy was interrupted"))
            raise
        await self.tasks.finish(task_id, not failed, result={"image_id": image_id},
                                message=f"copy failed for stores: {', '.join(failed)}" if failed else "")

    async def _begin(self, image_id: str, from_status: str, task_id: str, method: str, source: object,
                     targets: list[str] | None = None) -> None:
        targets = targets or [self.images.stores.default]
        async with self.images.db.session() as s:
            moved = await s.execute(update(Image).where(Image.id == image_id, Image.status == from_status)
                                    .values(status="importing", updated_at=utcnow()))
            image = await s.get(Image, image_id, populate_existing=True)
            if moved.rowcount == 1:
                self.images.change_extra(image, {TASK_PROPERTY: task_id, FAILED_PROPERTY: "",
                                                 replicate.IMPORTING: ",".join(targets)})
                owner, disk_format = image.owner, image.disk_format
        if moved.rowcount != 1:
            await self.tasks.finish(task_id, False, message="The image changed before the import began.")
            raise Conflict(f"Image {image_id} changed before the import began.")
        job = asyncio.get_running_loop().create_task(
            self._run(image_id, task_id, method, source, owner, disk_format, targets))
        self._running.add(job)
        job.add_done_callback(self._running.discard)

    async def _run(self, image_id: str, task_id: str, method: str, source: object,
                   owner: str | None, disk_format: str, targets: list[str]) -> None:
        try:
            container_format, extra = None, {}
            if method == "web-download":
                await self._download(image_id, source, owner)
            elif method == "glance-download":
                meta = await self._glance_download(image_id, source, owner)
                disk_format, container_format = meta.get("disk_format"), meta.get("container_format")
                extra = {k: v for k, v in meta.items() if k.startswith(COPIED_PREFIXES) and isinstance(v, str)}
            extra[replicate.IMPORTING] = ",".join(targets[1:])
            await self._store(image_id, owner, disk_format, container_format, extra, targets[0])
            failed = await replicate.copy_to_stores(self.images, image_id, targets[1:])
        except BaseException as e:
            if isinstance(e, (ImportFailed, FormatRejected)):
                reason = str(e)
            elif isinstance(e, ApiError):
                reason = e.message
            elif isinstance(e, asyncio.CancelledError):
                reason = "the import was interrupted"
            else:
                reason = f"unexpected error: {type(e).__name__}"
                log.exception("import of image %s failed", image_id)
            await asyncio.shield(self._fail(image_id, task_id, reason, targets))
            if isinstance(e, asyncio.CancelledError):
                raise
            return
        await self.tasks.finish(task_id, not failed, result={"image_id": image_id},
                                message=f"import failed for stores: {', '.join(failed)}" if failed else "")

    async def _fail(self, image_id: str, task_id: str, reason: str, targets: list[str]) -> None:
        log.info("import of image %s failed: %s", image_id, reason)
        await self.staging.delete(image_id)
        await self.images.requeue(image_id, "importing", {TASK_PROPERTY: None, STAGE_HOST: None,
                                                          replicate.IMPORTING: "",
                                                          FAILED_PROPERTY: ",".join(targets)})
        await self.tasks.finish(task_id, False, message=f"Import of image {image_id} failed: {reason}")

    async def _room(self, owner: str | None) -> int:
        async with self.images.db.session() as s:
            try:
                return await quota.storage_room(s, self.images.limits, owner, self.images.size_cap)
            except PayloadTooLarge as e:
                raise ImportFailed(e.message) from None

    async def _fetch(self, image_id: str, owner: str | None, open_body) -> None:
        """Stream the body ``open_body()`` opens into the staging store, within the size cap, the
        project's storage room and ``download_timeout``; :class:`ImportFailed` otherwise."""
        cap = await self._room(owner)
        try:
            async with asyncio.timeout(self.download_timeout):
                async with open_body() as body:
                    await self.staging.write(image_id, body, size_cap=cap)
        except fetch.FetchError as e:
            raise ImportFailed(str(e)) from None
        except SizeLimitExceeded:
            raise ImportFailed("the image data exceeds the size cap or the storage quota") from None
        except TimeoutError:
            raise ImportFailed(f"the download took longer than {self.download_timeout:g} s") from None

    async def _download(self, image_id: str, uri: str, owner: str | None) -> None:
        timeout = min(60.0, self.download_timeout)
        await self._fetch(image_id, owner, lambda: fetch.open_url(uri, self.allowed_ports, timeout=timeout))

    async def _glance_download(self, image_id: str, source: dict, owner: str | None) -> dict:
        """Stage the data of the source image; returns its metadata."""
        base = fetch.image_endpoint(source["catalog"], source["region"], source["interface"])
        if base is None:
            raise ImportFailed(f"no image API in region {source['region']!r} for interface "
                               f"{source['interface']!r}")
        remote_id, token = source["image_id"], source["token"]
        try:
            meta = await fetch.remote_image(self.http, base, remote_id, token)
        except fetch.FetchError as e:
            raise ImportFailed(str(e)) from None
        if meta.get("status") != "active" or not meta.get("disk_format"):
            raise ImportFailed(f"image {remote_id} is not active")
        await self._fetch(image_id, owner, lambda: fetch.open_remote_data(self.http, base, remote_id, token))
        return meta

    async def _store(self, image_id: str, owner: str | None, disk_format: str,
                     container_format: str | None = None, extra: dict[str, str] | None = None,
                     store: str | None = None) -> None:
        staged = self.staging.path(image_id)
        prepared = await convert.prepare(staged, disk_format, self.target_format)
        try:
            f = await asyncio.to_thread(open, prepared.path, "rb")
            try:
                stored = await self.images.stores.file(store).write(image_id, self.staging.iter_file(f),
                                                       size_cap=await self._room(owner))
            except SizeLimitExceeded:
                raise ImportFailed("the image data exceeds the size cap or the storage quota") from None
            finally:
                f.close()
        finally:
            if prepared.temporary:
                await asyncio.shield(asyncio.to_thread(prepared.path.unlink, missing_ok=True))
        await self.staging.delete(image_id)
        await self.images.activate(image_id, "importing", stored, virtual_size=prepared.virtual_size,
                                   disk_format=prepared.disk_format, container_format=container_format,
                                   store=store, extra={**(extra or {}), TASK_PROPERTY: None, STAGE_HOST: None})

    # --- legacy tasks -----------------------------------------------------------------------

    async def create_task(self, ctx: RequestContext, body: object):
        """``POST /v2/tasks`` type ``import``: a new image filled from ``input.import_from``."""
        check_tasks_api(ctx, "add_task")
        if not isinstance(body, dict) or body.get("type") != "import":
            raise BadRequest("Invalid type value: only 'import' tasks are supported.")
        task_input = body.get("input")
        if not isinstance(task_input, dict) or not isinstance(task_input.get("image_properties"), dict):
            raise BadRequest("Input of an import task needs 'import_from', 'import_from_format' "
                             "and 'image_properties'.")
        uri = fetch.check_url(task_input.get("import_from"), self.allowed_ports)
        if task_input.get("import_from_format") not in (None, *convert.CONVERTIBLE, "iso"):
            raise BadRequest(f"Invalid import_from_format {task_input.get('import_from_format')!r}")
        props = dict(task_input["image_properties"])
        props.setdefault("disk_format", task_input.get("import_from_format") or "raw")
        props.setdefault("container_format", "bare")
        image = await self.images.create(ctx, props)
        task = await self.tasks.add(ctx, "import", task_input, image.id)
        try:
            await self._begin(image.id, "queued", task.id, "web-download", uri)
        except Conflict:
            pass
        return await self.tasks.get(ctx, task.id)


def _glance_source(params: dict) -> dict:
    """The source of a glance-download import: image id (a UUID, else 400), region, interface."""
    image_id = params.get("glance_image_id")
    try:
        image_id = str(uuid.UUID(image_id)) if isinstance(image_id, str) else None
    except ValueError:
        image_id = None
    if image_id is None:
        raise BadRequest("Remote image id does not look like a UUID: "
                         f"{params.get('glance_image_id')!r}")
    region, interface = params.get("glance_region"), params.get("glance_service_interface", "public")
    if not isinstance(region, str) or not region or not isinstance(interface, str):
        raise BadRequest("Import method glance-download needs 'glance_region' and "
                         "'glance_service_interface' strings.")
    return {"image_id": image_id, "region": region, "interface": interface}
