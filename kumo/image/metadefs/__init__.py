"""The metadata definitions catalog of the image service (Image API v2 "Metadata definitions").

:class:`MetadefService` groups the parts, each taking the caller's
:class:`~kumo.common.auth.context.RequestContext` and raising
``kumo.common.api.errors``: ``namespaces`` (:mod:`.namespaces`), ``objects`` and
``properties`` (:mod:`.definitions`), ``tags`` (:mod:`.tags`) and
``resource_types`` with namespace associations (:mod:`.resource_types`).
Visibility and policy are in :mod:`.common`, request validation in
:mod:`.validate`, response bodies in :mod:`.views`. The tables live in
:mod:`kumo.image.models` (created with the image schema).
"""
from __future__ import annotations

from kumo.common.db import Database
from kumo.image.metadefs.definitions import Objects, Properties
from kumo.image.metadefs.namespaces import NamespaceDetail, Namespaces
from kumo.image.metadefs.resource_types import STANDARD, ResourceTypes
from kumo.image.metadefs.tags import Tags

__all__ = ["MetadefService", "NamespaceDetail", "STANDARD"]


class MetadefService:
    """The catalog in the image database ``db``."""

    def __init__(self, db: Database):
        self.db = db
        self.namespaces = Namespaces(db)
        self.objects = Objects(db)
        self.properties = Properties(db)
        self.tags = Tags(db)
        self.resource_types = ResourceTypes(db)

    async def start(self) -> None:
        """Create missing tables and register the standard resource types; idempotent."""
        await self.db.create_schema()
        await self.resource_types.seed()
