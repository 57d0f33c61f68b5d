"""The image database: images, their extra properties and their tags.

One row per image in ``images`` (Image API v2 "Images" base properties plus
the store location), extra properties in ``image_properties`` (name -> string
value) and tags in ``image_tags``. Deleting an image deletes its properties
and tags (ON DELETE CASCADE and ORM cascade).
"""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Boolean, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

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
