"""The image API component (Glance v2 on port ``settings.image.port``, 9292).

``component(rt)`` builds the ``image-api`` :class:`Component`: its database
(``settings.database_url("image")``), its file store (``settings.image_store``)
and staging store (``settings.image_staging``), the services
(``app.state.images``, ``members``, ``tasks``, ``imports``, ``metadefs``: the
metadata definitions catalog, :mod:`kumo.image.metadefs`) and the Starlette
app with glance's error bodies (plain text, or JSON for clients that accept
it: :mod:`kumo.image.api.errors`). ``start()`` creates the schema and store
directories and requeues uploads and imports a crash interrupted; ``stop()``
cancels running imports and closes the database. Image notifications go to
``rt.bus.notify``.

``remote_component(rt)`` builds ``image-api-remote``: a second worker of the same image
service (tempest's ``image_remote``) on ``[image] remote_port`` (9293), sharing the database and
stores but with its own staging area (<state>/image-staging-remote), its own cache (files and a
worker-local database under <state>/image-cache-remote) and its own ``worker_self_reference_url``.
Imports and deletes of data staged on the other worker are forwarded to it
(:mod:`kumo.image.workers`). With ``remote_port = 0`` it serves nothing.
"""
from __future__ import annotations

from sqlalchemy import MetaData

from kumo.common.api import create_app
from kumo.common.db import Database
from kumo.common.runtime import Component, Runtime
from kumo.config import Settings
from kumo.image import policy, quota
from kumo.image.api import discovery, errors, images, imports, members, metadefs, stores
from kumo.image.cache import ImageCache
from kumo.image.locations import LocationService
from kumo.image.imports import ImportService
from kumo.image.members import MemberService
from kumo.image.metadefs import MetadefService
from kumo.image.models import Base, ImageCacheEntry
from kumo.image.service import ImageService
from kumo.image.store import FileStore, Stores
from kumo.image.tasks import TaskService
from kumo.image.workers import Workers


def self_url(settings: Settings, port: int) -> str:
    """``worker_self_reference_url`` of the worker on ``port`` (``http://PUBLIC_HOST:PORT``)."""
    return f"http://{settings.common.public_host}:{port}"


def component(rt: Runtime) -> Component:
    """The image API component for ``rt`` (name ``image-api``)."""
    settings = rt.settings
    url = settings.image.worker_self_reference_url or self_url(settings, settings.image.port)
    return _worker(rt, "image-api", settings.image.port, settings.image_staging, settings.image_cache_dir,
                   Workers(url if settings.image.remote_port else "", http=rt.service_auth.http),
                   local_cache=False)


def remote_component(rt: Runtime) -> Component:
    """The second image API worker (name ``image-api-remote``); no port when ``remote_port`` is 0."""
    settings = rt.settings
    port = settings.image.remote_port
    if not port:
        return Component(name="image-api-remote")
    return _worker(rt, "image-api-remote", port, settings.path("image-staging-remote"),
                   settings.path("image-cache-remote"),
                   Workers(self_url(settings, port), primary=False, http=rt.service_auth.http),
                   local_cache=True)


def _worker(rt: Runtime, name: str, port: int, staging_dir, cache_dir, workers: Workers,
            local_cache: bool) -> Component:
    settings = rt.settings
    policy.configure(settings)
    db = Database(settings.database_url("image"), Base.metadata)
    store = Stores.from_settings(settings)
    cfg = settings.image
    limits = quota.Limits.from_settings(cfg)
    service = ImageService(db, store, cfg.image_size_cap, notify=rt.bus.notify,
                           staging=FileStore(staging_dir), limits=limits, workers=workers)
    tasks = TaskService(db)
    importer = ImportService(service, tasks, methods=cfg.enabled_import_methods,
                             target_format=cfg.import_target_format,
                             allowed_ports=cfg.web_download_allowed_ports,
                             download_timeout=cfg.web_download_timeout,
                             http=rt.service_auth.http, workers=workers)
    catalog = MetadefService(db)
    locations = LocationService(service, tasks)
    cache = None
    if cfg.image_cache:
        cache_db = Database(f"sqlite+aiosqlite:///{cache_dir}/cache.db", _CACHE_METADATA) if local_cache else None
        cache = ImageCache(service, FileStore(cache_dir), db=cache_db)
    if cache is not None:
        service.cache = cache
        service.on_delete.append(cache.forget)
    app = create_app(style="glance", routes=[*discovery.routes, *images.routes, *members.routes,
                                             *imports.routes, *stores.routes, *metadefs.routes],
                     validator=rt.validator, public=discovery.is_public,
                     state={"images": service, "members": MemberService(db, limits.members),
                            "tasks": tasks, "imports": importer, "metadefs": catalog, "cache": cache,
                            "locations": locations,
                            "settings": settings})
    errors.install(app)
    return Component(name=name, app=app, port=port,
                     starters=[service.start, importer.start, catalog.start,
                               *([cache.start] if cache else [])],
                     stoppers=[importer.stop, locations.stop, *([cache.stop] if cache else []),
                               workers.close, db.close])


#: The schema of a worker-local cache database: the cache table alone.
_CACHE_METADATA = MetaData()
ImageCacheEntry.__table__.to_metadata(_CACHE_METADATA)
