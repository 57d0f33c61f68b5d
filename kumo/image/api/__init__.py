"""The image API component (Glance v2 on port ``settings.image.port``, 9292).

``component(rt)`` builds the ``image-api`` :class:`Component`: its database
(``settings.database_url("image")``), its file store (``settings.image_store``),
the :class:`~kumo.image.service.ImageService` (``app.state.images``) and the
Starlette app with glance's error bodies (plain text, or JSON for
clients that accept it: :mod:`kumo.image.api.errors`). ``start()`` creates the
schema and store directory and requeues uploads a crash interrupted;
``stop()`` closes the database. Image notifications go to ``rt.bus.notify``.
"""
from __future__ import annotations

from kumo.common.api import create_app
from kumo.common.db import Database
from kumo.common.runtime import Component, Runtime
from kumo.image.api import discovery, errors, images, metadefs
from kumo.image.metadefs import MetadefService
from kumo.image.models import Base
from kumo.image.service import ImageService
from kumo.image.store import FileStore


def component(rt: Runtime) -> Component:
    """The image API component for ``rt`` (name ``image-api``)."""
    settings = rt.settings
    db = Database(settings.database_url("image"), Base.metadata)
    store = FileStore(settings.image_store)
    service = ImageService(db, store, settings.image.image_size_cap, notify=rt.bus.notify)
    catalog = MetadefService(db)
    app = create_app(style="glance", routes=[*discovery.routes, *images.routes, *metadefs.routes],
                     validator=rt.validator, public=discovery.is_public,
                     state={"images": service, "metadefs": catalog, "settings": settings})
    errors.install(app)
    return Component(name="image-api", app=app, port=settings.image.port,
                     starters=[service.start, catalog.start], stoppers=[db.close])
