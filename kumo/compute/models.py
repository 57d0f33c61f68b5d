"""Compute database models (the Nova v2.1 subset kumo serves).

Tables: flavors (+ access list), key pairs, instances (+ faults, scheduler
hints), compute nodes and services, aggregates (+ hosts), quotas and quota
classes, server groups (+ members), console auth tokens. Instances are soft-deleted as nova does (``deleted`` and
``deleted_at``) so a deleted server still shows in ``changes-since`` lists;
everything else is deleted for real.

The compute API, the scheduler and the metadata API share this database
(``settings.database_url("compute")``); :func:`open_database` opens it with
SQLite write transactions taken up front (``BEGIN IMMEDIATE``) so concurrent
read-then-write transactions (claims, conductor updates) serialize instead
of failing with "database is locked".
"""
from __future__ import annotations

import uuid as _uuid
from datetime import datetime
from typing import Any

from sqlalchemy import (JSON, Boolean, Float, ForeignKey, Integer, String, Text,
                        UniqueConstraint, event)
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Mapped, mapped_column

from kumo.common.db import Database, declarative_base, utcnow

Base = declarative_base()


def new_uuid() -> str:
    """A new UUID4 string (dashed form)."""
    return str(_uuid.uuid4())


class Flavor(Base):
    """A flavor (nova ``flavors``): ``flavorid`` is the public id, ``id`` internal."""

    __tablename__ = "flavors"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    flavorid: Mapped[str] = mapped_column(String(255), unique=True)
    name: Mapped[str] = mapped_column(String(255), unique=True)
    #: RAM in MiB.
    memory_mb: Mapped[int] = mapped_column(Integer)
    vcpus: Mapped[int] = mapped_column(Integer)
    #: Root disk in GiB (0: the image's size).
    root_gb: Mapped[int] = mapped_column(Integer, default=0)
    ephemeral_gb: Mapped[int] = mapped_column(Integer, default=0)
    #: Swap in MiB.
    swap: Mapped[int] = mapped_column(Integer, default=0)
    rxtx_factor: Mapped[float] = mapped_column(Float, default=1.0)
    is_public: Mapped[bool] = mapped_column(Boolean, default=True)
    disabled: Mapped[bool] = mapped_column(Boolean, default=False)
    description: Mapped[str | None] = mapped_column(Text, nullable=True)
    extra_specs: Mapped[dict[str, str]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime | None] = mapped_column(nullable=True)


class FlavorAccess(Base):
    """A project allowed to use a private flavor."""

    __tablename__ = "flavor_projects"
    __table_args__ = (UniqueConstraint("flavor_id", "project_id", name="uq_flavor_projects"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    flavor_id: Mapped[int] = mapped_column(Integer, ForeignKey("flavors.id", ondelete="CASCADE"), index=True)
    project_id: Mapped[str] = mapped_column(String(255))


class KeyPair(Base):
    """An SSH (or x509) public key, owned by a user (not a project)."""

    __tablename__ = "key_pairs"
    __table_args__ = (UniqueConstraint("user_id", "name", name="uq_key_pairs_user_name"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(255))
    user_id: Mapped[str] = mapped_column(String(255), index=True)
    fingerprint: Mapped[str] = mapped_column(String(255))
    public_key: Mapped[str] = mapped_column(Text)
    type: Mapped[str] = mapped_column(String(16), default="ssh")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime | None] = mapped_column(nullable=True)


class Instance(Base):
    """A server. ``id`` (integer) names the guest (``instance-%08x``); ``uuid`` is the API id.

    ``flavor`` is a snapshot of the flavor at boot (it survives flavor
    deletion), in the bus dict's shape. ``requested_networks`` and
    ``network_info`` are the bus contract's lists (see ``objects.py``).
    """

    __tablename__ = "instances"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    uuid: Mapped[str] = mapped_column(String(36), unique=True, default=new_uuid)
    display_name: Mapped[str] = mapped_column(String(255))
    display_description: Mapped[str | None] = mapped_column(Text, nullable=True)
    hostname: Mapped[str] = mapped_column(String(255))
    project_id: Mapped[str] = mapped_column(String(255), index=True)
    user_id: Mapped[str] = mapped_column(String(255))
    host: Mapped[str | None] = mapped_column(String(255), nullable=True, index=True)
    node: Mapped[str | None] = mapped_column(String(255), nullable=True)
    #: Host the caller asked for (admin ``nova:host`` zone or 2.74 ``host``).
    requested_host: Mapped[str | None] = mapped_column(String(255), nullable=True)
    requested_node: Mapped[str | None] = mapped_column(String(255), nullable=True)
    flavor_id: Mapped[str] = mapped_column(String(255))
    flavor: Mapped[dict[str, Any]] = mapped_column(JSON)
    image_ref: Mapped[str] = mapped_column(String(255), default="")
    key_name: Mapped[str | None] = mapped_column(String(255), nullable=True)
    key_data: Mapped[str | None] = mapped_column(Text, nullable=True)
    key_type: Mapped[str | None] = mapped_column(String(16), nullable=True)
    #: Base64 text as the client sent it.
    user_data: Mapped[str | None] = mapped_column(Text, nullable=True)
    meta: Mapped[dict[str, str]] = mapped_column("metadata", JSON, default=dict)
    availability_zone: Mapped[str | None] = mapped_column(String(255), nullable=True)
    config_drive: Mapped[bool] = mapped_column(Boolean, default=False)
    requested_networks: Mapped[list[dict]] = mapped_column(JSON, default=list)
    network_info: Mapped[list[dict]] = mapped_column(JSON, default=list)
    #: nova's system_metadata: ``old_flavor``/``new_flavor`` (resize), ``shelved_image_id``,
    #: ``shelved_at``, ``old_vm_state`` (the state a rescue / resize / soft delete returns to)
    system_metadata: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    security_groups: Mapped[list[str]] = mapped_column(JSON, default=list)
    tags: Mapped[list[str]] = mapped_column(JSON, default=list)
    reservation_id: Mapped[str] = mapped_column(String(255), default="")
    launch_index: Mapped[int] = mapped_column(Integer, default=0)
    root_device_name: Mapped[str | None] = mapped_column(String(255), nullable=True)
    access_ip_v4: Mapped[str | None] = mapped_column(String(64), nullable=True)
    access_ip_v6: Mapped[str | None] = mapped_column(String(64), nullable=True)
    vm_state: Mapped[str] = mapped_column(String(32), default="building")
    task_state: Mapped[str | None] = mapped_column(String(64), nullable=True)
    power_state: Mapped[int] = mapped_column(Integer, default=0)
    progress: Mapped[int] = mapped_column(Integer, default=0)
    launched_at: Mapped[datetime | None] = mapped_column(nullable=True)
    terminated_at: Mapped[datetime | None] = mapped_column(nullable=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    deleted_at: Mapped[datetime | None] = mapped_column(nullable=True)
    deleted: Mapped[bool] = mapped_column(Boolean, default=False, index=True)
    #: lock (2.9 ``locked``, 2.73 ``locked_reason``); ``locked_by`` is ``owner`` or ``admin``
    locked: Mapped[bool] = mapped_column(Boolean, default=False)
    locked_by: Mapped[str | None] = mapped_column(String(16), nullable=True)
    locked_reason: Mapped[str | None] = mapped_column(String(255), nullable=True)
    #: the guest's encrypted password (os-server-password), set once by the metadata service
    password: Mapped[str | None] = mapped_column(Text, nullable=True)
    #: ``OS-DCF:diskConfig``: True AUTO (grow the root partition to the disk), else MANUAL
    auto_disk_config: Mapped[bool | None] = mapped_column(Boolean, nullable=True)
    #: personality files (< 2.57): ``[{"path": str, "contents": base64 str}]``, for the config drive
    injected_files: Mapped[list[dict] | None] = mapped_column(JSON, nullable=True)


class Migration(Base):
    """A resize of an instance (nova's ``migrations``; ``GET /os-migrations``). ``status``:
    pre-migrating, finished, confirmed, reverted or error; instance type ids are flavor rows'."""

    __tablename__ = "migrations"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    uuid: Mapped[str] = mapped_column(String(36), unique=True, default=new_uuid)
    instance_uuid: Mapped[str] = mapped_column(String(36), index=True)
    migration_type: Mapped[str] = mapped_column(String(32), default="resize")
    status: Mapped[str] = mapped_column(String(32))
    source_compute: Mapped[str | None] = mapped_column(String(255), nullable=True)
    source_node: Mapped[str | None] = mapped_column(String(255), nullable=True)
    dest_compute: Mapped[str | None] = mapped_column(String(255), nullable=True)
    dest_node: Mapped[str | None] = mapped_column(String(255), nullable=True)
    old_instance_type_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    new_instance_type_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    project_id: Mapped[str] = mapped_column(String(255))
    user_id: Mapped[str] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime | None] = mapped_column(nullable=True)


class InstanceFault(Base):
    """Why an instance went to ERROR (the newest one is the server's ``fault``)."""

    __tablename__ = "instance_faults"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    instance_uuid: Mapped[str] = mapped_column(String(36), index=True)
    code: Mapped[int] = mapped_column(Integer, default=500)
    message: Mapped[str] = mapped_column(Text)
    details: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class InstanceAction(Base):
    """One user request on a server (``os-instance-actions``): kept after the server is deleted."""

    __tablename__ = "instance_actions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    instance_uuid: Mapped[str] = mapped_column(String(36), index=True)
    action: Mapped[str] = mapped_column(String(255))
    request_id: Mapped[str] = mapped_column(String(255), index=True)
    user_id: Mapped[str] = mapped_column(String(255))
    project_id: Mapped[str] = mapped_column(String(255))
    start_time: Mapped[datetime] = mapped_column(default=utcnow)
    finish_time: Mapped[datetime | None] = mapped_column(nullable=True)
    #: None while it goes well, "Error" once an event failed.
    message: Mapped[str | None] = mapped_column(String(255), nullable=True)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class InstanceActionEvent(Base):
    """A step of an action a compute agent ran (``compute_reboot_instance``...)."""

    __tablename__ = "instance_action_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    action_id: Mapped[int] = mapped_column(Integer, ForeignKey("instance_actions.id", ondelete="CASCADE"),
                                           index=True)
    event: Mapped[str] = mapped_column(String(255))
    host: Mapped[str | None] = mapped_column(String(255), nullable=True)
    start_time: Mapped[datetime] = mapped_column(default=utcnow)
    finish_time: Mapped[datetime | None] = mapped_column(nullable=True)
    #: "Success" or "Error" once finished.
    result: Mapped[str | None] = mapped_column(String(255), nullable=True)
    traceback: Mapped[str | None] = mapped_column(Text, nullable=True)
    #: The error message a user may see (2.84).
    details: Mapped[str | None] = mapped_column(Text, nullable=True)


class ComputeNode(Base):
    """A hypervisor as its compute agent reports it (totals only).

    Used amounts are not stored: they are the sums of the flavors of the
    instances claimed on the node. ``generation`` changes with every claim so
    two concurrent claims on one node cannot both pass the capacity check.
    """

    __tablename__ = "compute_nodes"
    __table_args__ = (UniqueConstraint("host", "hypervisor_hostname", name="uq_compute_nodes_host_node"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    uuid: Mapped[str] = mapped_column(String(36), unique=True, default=new_uuid)
    host: Mapped[str] = mapped_column(String(255), index=True)
    hypervisor_hostname: Mapped[str] = mapped_column(String(255))
    hypervisor_type: Mapped[str] = mapped_column(String(255), default="QEMU")
    hypervisor_version: Mapped[int] = mapped_column(Integer, default=0)
    vcpus: Mapped[int] = mapped_column(Integer, default=0)
    memory_mb: Mapped[int] = mapped_column(Integer, default=0)
    local_gb: Mapped[int] = mapped_column(Integer, default=0)
    cpu_info: Mapped[str] = mapped_column(Text, default="{}")
    host_ip: Mapped[str | None] = mapped_column(String(64), nullable=True)
    generation: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime | None] = mapped_column(nullable=True)


class Service(Base):
    """A compute service (nova-compute, nova-scheduler, nova-conductor) on a host.

    ``updated_at`` is the last heartbeat; the service is up when it is at
    most :data:`SERVICE_DOWN_SECONDS` old and not ``forced_down``.
    """

    __tablename__ = "services"
    __table_args__ = (UniqueConstraint("host", "binary", name="uq_services_host_binary"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    uuid: Mapped[str] = mapped_column(String(36), unique=True, default=new_uuid)
    host: Mapped[str] = mapped_column(String(255))
    binary: Mapped[str] = mapped_column(String(255))
    topic: Mapped[str] = mapped_column(String(255), default="")
    disabled: Mapped[bool] = mapped_column(Boolean, default=False)
    disabled_reason: Mapped[str | None] = mapped_column(String(255), nullable=True)
    forced_down: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime | None] = mapped_column(nullable=True)


class Aggregate(Base):
    """A host aggregate; an ``availability_zone`` metadata key makes its hosts a zone."""

    __tablename__ = "aggregates"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    uuid: Mapped[str] = mapped_column(String(36), unique=True, default=new_uuid)
    name: Mapped[str] = mapped_column(String(255), unique=True)
    meta: Mapped[dict[str, str]] = mapped_column("metadata", JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime | None] = mapped_column(nullable=True)


class AggregateHost(Base):
    """A (compute service) host in an aggregate."""

    __tablename__ = "aggregate_hosts"
    __table_args__ = (UniqueConstraint("aggregate_id", "host", name="uq_aggregate_hosts"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    aggregate_id: Mapped[int] = mapped_column(Integer, ForeignKey("aggregates.id", ondelete="CASCADE"),
                                              index=True)
    host: Mapped[str] = mapped_column(String(255), index=True)


class QuotaLimit(Base):
    """A per-project (``user_id`` "" ) or per-user hard limit overriding the class default."""

    __tablename__ = "quotas"
    __table_args__ = (UniqueConstraint("project_id", "user_id", "resource", name="uq_quotas"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    project_id: Mapped[str] = mapped_column(String(255), index=True)
    user_id: Mapped[str] = mapped_column(String(255), default="")
    resource: Mapped[str] = mapped_column(String(255))
    hard_limit: Mapped[int] = mapped_column(Integer)


class QuotaClass(Base):
    """A quota class limit (class ``default`` holds the defaults every project starts from)."""

    __tablename__ = "quota_classes"
    __table_args__ = (UniqueConstraint("class_name", "resource", name="uq_quota_classes"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    class_name: Mapped[str] = mapped_column(String(255))
    resource: Mapped[str] = mapped_column(String(255))
    hard_limit: Mapped[int] = mapped_column(Integer)


class ServerGroup(Base):
    """A server group (nova ``instance_groups``) with one policy and its rules (2.64)."""

    __tablename__ = "server_groups"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    uuid: Mapped[str] = mapped_column(String(36), unique=True, default=new_uuid)
    name: Mapped[str] = mapped_column(String(255))
    project_id: Mapped[str] = mapped_column(String(255), index=True)
    user_id: Mapped[str] = mapped_column(String(255))
    policy: Mapped[str] = mapped_column(String(64))
    rules: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class ServerGroupMember(Base):
    """An instance in a server group (an instance is in at most one group)."""

    __tablename__ = "server_group_members"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    group_id: Mapped[int] = mapped_column(Integer, ForeignKey("server_groups.id", ondelete="CASCADE"),
                                          index=True)
    instance_uuid: Mapped[str] = mapped_column(String(36), unique=True)


class InstanceHints(Base):
    """The scheduler hints a server was created with (``os:scheduler_hints``), kept for scheduling."""

    __tablename__ = "instance_hints"

    instance_uuid: Mapped[str] = mapped_column(String(36), primary_key=True)
    hints: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class ConsoleAuthToken(Base):
    """A console access token (nova ``console_auth_tokens``): only its SHA-256 is stored;
    ``host``/``port`` is the guest's VNC server as the console proxy reaches it."""

    __tablename__ = "console_auth_tokens"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    console_type: Mapped[str] = mapped_column(String(32))
    host: Mapped[str] = mapped_column(String(255))
    port: Mapped[int] = mapped_column(Integer)
    internal_access_path: Mapped[str | None] = mapped_column(String(255), nullable=True)
    instance_uuid: Mapped[str] = mapped_column(String(36), index=True)
    #: Seconds since the epoch after which the token is refused.
    expires: Mapped[int] = mapped_column(Integer, index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


#: Seconds without a heartbeat after which a service is "down" (nova's service_down_time).
SERVICE_DOWN_SECONDS = 60


def open_database(url: str) -> Database:
    """The compute database at ``url``; on SQLite every transaction is ``BEGIN IMMEDIATE``.

    Taking the write lock when the transaction starts lets SQLite's busy
    timeout queue concurrent writers, where a deferred transaction that read
    first would fail when it tries to write after another one committed.
    """
    db = Database(url, Base.metadata)
    if make_url(url).get_backend_name() == "sqlite":
        @event.listens_for(db.engine.sync_engine, "connect")
        def _driver_autocommit(dbapi_conn, _record):
            dbapi_conn.isolation_level = None

        @event.listens_for(db.engine.sync_engine, "begin")
        def _begin_immediate(conn):
            conn.exec_driver_sql("BEGIN IMMEDIATE")
    return db
