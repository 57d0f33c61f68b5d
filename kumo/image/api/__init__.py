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
"""
from __future__ import annotations

from kumo.common.api import create_app
from kumo.common.db import Database
from kumo.common.runtime import Component, Runtime
from kumo.image import quota
from kumo.image.api import discovery, errors, images, imports, members, metadefs, stores
from kumo.image.cache import ImageCache
from kumo.image.locations import LocationService
from kumo.image.imports import ImportService
from kumo.image.members import MemberService
from kumo.image.metadefs import MetadefService
from kumo.image.models import Base
from kumo.image.service import ImageService
from kumo.image.store import FileStore, Stores
from kumo.image.tasks import TaskService


def component(rt: Runtime) -> Component:
    """The image API component for ``rt`` (name ``image-api``)."""
    settings = rt.settings
    db = Database(settings.database_url("image"), Base.metadata)
    store = Stores.from_settings(settings)
    cfg = settings.image
    limits = quota.Limits.from_settings(cfg)
    service = ImageService(db, store, cfg.image_size_cap, notify=rt.bus.notify,
                           staging=FileStore(settings.image_staging), limits=limits)
    tasks = TaskService(db)
    importer = ImportService(service, tasks, methods=cfg.enabled_import_methods,
                             target_format=cfg.import_target_format,
                             allowed_ports=cfg.web_download_allowed_ports,
                             download_timeout=cfg.web_download_timeout,
                             http=rt.service_auth.http)
    catalog = MetadefService(db)
    locations = LocationService(service, tasks)
    cache = ImageCache(service, FileStore(settings.image_cache_dir)) if cfg.image_cache else None
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
    return Component(name="image-api", app=app, port=settings.image.port,
                     starters=[service.start, importer.start, catalog.start,
                               *([cache.start] if cache else [])],
                     stoppers=[importer.stop, locations.stop, *([cache.stop] if cache else []), db.close])
