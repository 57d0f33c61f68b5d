"""The image database: images, their extra properties and their tags.

One row per image in ``images`` (Image API v2 "Images" base properties plus
the store location), extra properties in ``image_properties`` (name -> string
value), tags in ``image_tags``, sharing in ``image_members`` and asynchronous
work (imports) in ``image_tasks``. Deleting an image deletes its properties,
tags and members (ON DELETE CASCADE and ORM cascade); its tasks stay, as in glance.
"""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import (JSON, BigInteger, Boolean, ForeignKey, Index, Integer, String, Text,
                        UniqueConstraint)
from sqlalchemy.orm import Mapped, declared_attr, mapped_column, relationship

from kumo.common.db import declarative_base, utcnow

Base = declarative_base()


class Image(Base):
    """An image record. ``status`` is one of queued, saving, active, deactivated.

    ``size`` and ``virtual_size`` are bytes; ``min_disk`` is GiB and ``min_ram``
    MiB; ``location`` is the store URL of the data (``file:///...``), never shown
    to API users.
    """

    __tablename__ = "images"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    name: Mapped[str | None] = mapped_column(String(255))
    status: Mapped[str] = mapped_column(String(30), default="queued")
    visibility: Mapped[str] = mapped_column(String(20), default="shared")
    protected: Mapped[bool] = mapped_column(Boolean, default=False)
    os_hidden: Mapped[bool] = mapped_column(Boolean, default=False)
    owner: Mapped[str | None] = mapped_column(String(255))
    size: Mapped[int | None] = mapped_column(BigInteger)
    virtual_size: Mapped[int | None] = mapped_column(BigInteger)
    checksum: Mapped[str | None] = mapped_column(String(32))
    os_hash_algo: Mapped[str | None] = mapped_column(String(64))
    os_hash_value: Mapped[str | None] = mapped_column(String(128))
    disk_format: Mapped[str | None] = mapped_column(String(20))
    container_format: Mapped[str | None] = mapped_column(String(20))
    min_disk: Mapped[int] = mapped_column(Integer, default=0)
    min_ram: Mapped[int] = mapped_column(Integer, default=0)
    location: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)

    properties: Mapped[list["ImageProperty"]] = relationship(
        back_populates="image", cascade="all, delete-orphan", lazy="selectin",
        passive_deletes=True)
    tags: Mapped[list["ImageTag"]] = relationship(
        back_populates="image", cascade="all, delete-orphan", lazy="selectin",
        passive_deletes=True)
    members: Mapped[list["ImageMember"]] = relationship(
        back_populates="image", cascade="all, delete-orphan", lazy="selectin",
        passive_deletes=True)
    locations: Mapped[list["ImageLocation"]] = relationship(
        cascade="all, delete-orphan", lazy="selectin", passive_deletes=True,
        order_by="ImageLocation.position")

    __table_args__ = (
        Index("ix_images_owner", "owner"),
        Index("ix_images_visibility", "visibility"),
        Index("ix_images_created_at", "created_at"),
        Index("ix_images_name", "name"),
    )

    @property
    def extra(self) -> dict[str, str]:
        """Extra properties as a dict (name -> string value)."""
        return {p.name: p.value for p in self.properties}

    @property
    def tag_list(self) -> list[str]:
        """Tags, sorted for a stable order."""
        return sorted(t.value for t in self.tags)


class ImageProperty(Base):
    """One extra (user-defined) property of an image; the value is a string."""

    __tablename__ = "image_properties"

    image_id: Mapped[str] = mapped_column(
        String(36), ForeignKey("images.id", ondelete="CASCADE"), primary_key=True)
    name: Mapped[str] = mapped_column(String(255), primary_key=True)
    value: Mapped[str] = mapped_column(Text, default="")

    image: Mapped[Image] = relationship(back_populates="properties")

    __table_args__ = (Index("ix_image_properties_name", "name"),)


class ImageTag(Base):
    """One tag of an image (at most 255 characters)."""

    __tablename__ = "image_tags"

    image_id: Mapped[str] = mapped_column(
        String(36), ForeignKey("images.id", ondelete="CASCADE"), primary_key=True)
    value: Mapped[str] = mapped_column(String(255), primary_key=True)

    image: Mapped[Image] = relationship(back_populates="tags")

    __table_args__ = (Index("ix_image_tags_value", "value"),)


class ImageLocation(Base):
    """One place an image's data is kept (Image API v2 ``locations``), in list order (``position``).

    ``store`` is the store id (a file store of ``[image] stores``, or ``web`` for http(s) URLs);
    ``meta`` is the location's ``metadata`` object. Images stored before multistore have only
    ``images.location``; :func:`kumo.image.store.registry.Stores.migrate` copies it here at start.
    """

    __tablename__ = "image_locations"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    image_id: Mapped[str] = mapped_column(String(36), ForeignKey("images.id", ondelete="CASCADE"))
    url: Mapped[str] = mapped_column(Text)
    store: Mapped[str] = mapped_column(String(64))
    meta: Mapped[dict] = mapped_column(JSON, default=dict)
    position: Mapped[int] = mapped_column(Integer, default=0)

    __table_args__ = (Index("ix_image_locations_image", "image_id"),)


class ImageCacheEntry(Base):
    """An image in the node-local cache: ``state`` ``queued`` (waiting to be copied) or ``cached``.

    ``size`` bytes; ``hits`` downloads served from the cache; times are UTC.
    """

    __tablename__ = "image_cache"

    image_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    state: Mapped[str] = mapped_column(String(20), default="queued")
    size: Mapped[int] = mapped_column(BigInteger, default=0)
    hits: Mapped[int] = mapped_column(Integer, default=0)
    last_accessed: Mapped[datetime] = mapped_column(default=utcnow)
    last_modified: Mapped[datetime] = mapped_column(default=utcnow)


# --- sharing and tasks ---------------------------------------------------------------------------

class ImageMember(Base):
    """A project an image is shared with (Image API v2 "Image members").

    ``status`` is ``pending`` (just added), ``accepted`` or ``rejected``; only
    the member project changes it.
    """

    __tablename__ = "image_members"

    image_id: Mapped[str] = mapped_column(
        String(36), ForeignKey("images.id", ondelete="CASCADE"), primary_key=True)
    member_id: Mapped[str] = mapped_column(String(255), primary_key=True)
    status: Mapped[str] = mapped_column(String(20), default="pending")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)

    image: Mapped[Image] = relationship(back_populates="members")

    __table_args__ = (Index("ix_image_members_member", "member_id", "status"),)


class ImageTask(Base):
    """An asynchronous task (Image API v2 "Tasks"): an import of image data.

    ``status``: pending -> processing -> success | failure. ``input`` and
    ``result`` are JSON text; ``image_id``, ``request_id`` and ``user_id`` tie
    the task to the image and the request that started it.
    """

    __tablename__ = "image_tasks"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    type: Mapped[str] = mapped_column(String(30))
    status: Mapped[str] = mapped_column(String(20), default="pending")
    owner: Mapped[str | None] = mapped_column(String(255))
    input: Mapped[str] = mapped_column(Text, default="{}")
    result: Mapped[str | None] = mapped_column(Text)
    message: Mapped[str] = mapped_column(Text, default="")
    image_id: Mapped[str | None] = mapped_column(String(36))
    request_id: Mapped[str | None] = mapped_column(String(64))
    user_id: Mapped[str | None] = mapped_column(String(64))
    expires_at: Mapped[datetime | None] = mapped_column()
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)

    __table_args__ = (Index("ix_image_tasks_image", "image_id"),
                      Index("ix_image_tasks_owner", "owner"))


# --- Metadata definitions (Image API v2 "Metadata definitions"), kumo.image.metadefs ---------
#
# A namespace (unique name) holds objects, properties and tags (names unique in the namespace)
# and associations with resource types (OS::Glance::Image, ...). Deleting a namespace deletes
# what it holds (ON DELETE CASCADE). Property definitions and object property maps are JSON.


class MetadefNamespace(Base):
    """A metadata definition namespace; ``visibility`` is public or private."""

    __tablename__ = "metadef_namespaces"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    namespace: Mapped[str] = mapped_column(String(80), unique=True)
    display_name: Mapped[str | None] = mapped_column(String(80))
    description: Mapped[str | None] = mapped_column(Text)
    visibility: Mapped[str] = mapped_column(String(32), default="private")
    protected: Mapped[bool] = mapped_column(Boolean, default=False)
    owner: Mapped[str | None] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)

    associations: Mapped[list["MetadefAssociation"]] = relationship(
        cascade="all, delete-orphan", lazy="selectin", passive_deletes=True)

    __table_args__ = (Index("ix_metadef_namespaces_owner", "owner"),)


class _NamespaceChild:
    """The columns of a named definition inside a metadefs namespace (unique name per namespace)."""

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    namespace_id: Mapped[int] = mapped_column(
        ForeignKey("metadef_namespaces.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(80))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)

    @declared_attr.directive
    def __table_args__(cls) -> tuple:
        return (UniqueConstraint("namespace_id", "name"),)


class MetadefObject(_NamespaceChild, Base):
    """An object definition: ``properties`` (name -> property definition) and ``required`` names."""

    __tablename__ = "metadef_objects"

    description: Mapped[str | None] = mapped_column(Text)
    required: Mapped[list] = mapped_column(JSON, default=list)
    properties: Mapped[dict] = mapped_column(JSON, default=dict)


class MetadefProperty(_NamespaceChild, Base):
    """A property definition; ``schema`` holds its JSON-schema keys (title, type, enum, ...)."""

    __tablename__ = "metadef_properties"

    schema: Mapped[dict] = mapped_column(JSON, default=dict)


class MetadefTag(_NamespaceChild, Base):
    """A tag definition of a namespace."""

    __tablename__ = "metadef_tags"


class MetadefResourceType(Base):
    """A resource type (``OS::Glance::Image``, ...); ``protected`` marks the built-in ones."""

    __tablename__ = "metadef_resource_types"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(80), unique=True)
    protected: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class MetadefAssociation(Base):
    """A namespace's association with a resource type, with an optional property ``prefix``."""

    __tablename__ = "metadef_namespace_resource_types"

    namespace_id: Mapped[int] = mapped_column(
        ForeignKey("metadef_namespaces.id", ondelete="CASCADE"), primary_key=True)
    resource_type_id: Mapped[int] = mapped_column(
        ForeignKey("metadef_resource_types.id", ondelete="CASCADE"), primary_key=True)
    prefix: Mapped[str | None] = mapped_column(String(80))
    properties_target: Mapped[str | None] = mapped_column(String(80))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)

    resource_type: Mapped[MetadefResourceType] = relationship(lazy="selectin")

    @property
    def name(self) -> str:
        return self.resource_type.name
