"""One settings model for every kumo component.

Settings come from a TOML file (``$KUMO_CONFIG``, default ``/etc/kumo/kumo.toml``)
with one table per section, then environment overrides of the form
``KUMO_<SECTION>__<KEY>`` (for example ``KUMO_COMPUTE__VIRT_TYPE=qemu``).
A missing file is fine: every field has an all-in-one default.
"""
from __future__ import annotations

import os
import socket
import tomllib
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field

DEFAULT_CONFIG = "/etc/kumo/kumo.toml"


class CommonSettings(BaseModel):
    state_dir: str = "/var/lib/kumo"
    #: Name of this node (the ``host`` of services, agents and ports).
    host: str = Field(default_factory=socket.gethostname)
    #: Address the APIs listen on.
    bind_host: str = "0.0.0.0"
    #: Address clients use to reach this node's APIs (catalog endpoints).
    public_host: str = "127.0.0.1"
    region: str = "RegionOne"
    #: Bus transport URL: ``memory://`` (one process) or ``rabbit://...``.
    bus_url: str = "memory://"
    log_level: str = "info"
    #: Policy override files, one per service: ``<policy_dir>/<service>.yaml`` (kumo.common.policy).
    policy_dir: str = "/etc/kumo/policy"


class ServiceUser(BaseModel):
    """Credentials a service uses to call the other services' APIs."""

    username: str = "kumo"
    password: str = ""
    project_name: str = "service"
    domain_id: str = "default"


class IdentitySettings(BaseModel):
    port: int = 5000
    database_url: str = ""
    #: Fernet key repository (like keystone's /etc/keystone/fernet-keys).
    key_repository: str = ""
    token_expiration: int = 3600
    #: Seconds a validated token stays in a service's cache.
    cache_seconds: int = 30
    #: Second listener of the identity API (keystone's historical admin port; 0: none).
    admin_port: int = 35357
    #: Bootstrap token acting as a user-less superuser of the identity API only
    #: (keystone's ``[DEFAULT] admin_token``); empty: not honoured.
    admin_token: str = ""
    #: Fernet keys kept by ``kumo manage fernet-rotate`` (keystone's ``max_active_keys``).
    max_active_keys: int = 3
    # --- security compliance (keystone's [security_compliance]; 0 / empty / false = off) ---
    #: Failed password authentications before the user is locked out.
    lockout_failure_attempts: int = 0
    #: Seconds a locked-out user stays locked (0 with lockout on: until an admin resets it).
    lockout_duration: int = 1800
    #: Days a password stays valid (``password_expires_at``).
    password_expires_days: int = 0
    #: A new password must differ from this many previous ones.
    unique_last_password_count: int = 0
    #: Days before a user may change its password again.
    minimum_password_age: int = 0
    #: Regular expression a new password must match, and its human description.
    password_regex: str = ""
    password_regex_description: str = ""
    #: A user created or reset by an admin must change its password before using it.
    change_password_upon_first_use: bool = False


class ImageSettings(BaseModel):
    port: int = 9292
    database_url: str = ""
    store_dir: str = ""
    #: Largest image data accepted, in bytes (glance's ``image_size_cap``, 1 TiB).
    image_size_cap: int = 1099511627776
    #: Where interoperable import stages data (glance's staging store); default <state>/image-staging.
    staging_dir: str = ""
    #: Port of the second image API worker (``image-api-remote``, catalog type ``image_remote``;
    #: 0 = none) and this worker's URL as the other reaches it (default http://PUBLIC_HOST:PORT).
    remote_port: int = 9293
    worker_self_reference_url: str = ""
    #: Per-image limits (glance's names and defaults); past them the API answers 413.
    image_property_quota: int = 128
    image_tag_quota: int = 128
    image_member_quota: int = 128
    #: Per-project limits: bytes of image data (glance's ``user_storage_quota``, 0 = unlimited),
    #: images owned, bytes staged and uploads/imports in progress (-1 = unlimited).
    user_storage_quota: int = 0
    image_count_total: int = -1
    image_stage_total: int = -1
    image_count_uploading: int = -1
    #: Import methods offered by ``POST /v2/images/{id}/import`` (``/v2/info/import``).
    enabled_import_methods: list[str] = ["glance-direct", "web-download", "glance-download",
                                         "copy-image"]
    #: Imports convert disk data to this format with qemu-img (``qcow2`` or ``raw``; "" keeps it).
    import_target_format: str = "qcow2"
    #: web-download: allowed URL ports (empty: any) and seconds allowed per download.
    web_download_allowed_ports: list[int] = []
    web_download_timeout: float = 600
    #: File stores (glance multistore): store id -> directory ("" = the default: the first store
    #: uses ``store_dir`` (<state>/images), the others <state>/images-<id>).
    stores: dict[str, str] = {"file1": "", "file2": ""}
    #: The store uploads and imports go to when the request names none.
    default_store: str = "file1"
    #: Store weights (higher first in an image's ``stores`` and when reading its data).
    store_weights: dict[str, int] = {"file1": 100, "file2": 50}
    #: The read-only ``web`` (http) store: images whose locations are http(s) URLs.
    http_store: bool = True
    #: Show an image's ``locations`` (glance's ``show_multiple_locations``).
    show_multiple_locations: bool = True
    #: The node-local image cache (``/v2/cache``); default <state>/image-cache.
    image_cache: bool = True
    cache_dir: str = ""


class ComputeSettings(BaseModel):
    port: int = 8774
    database_url: str = ""
    #: ``auto`` probes /proc/cpuinfo and /dev/kvm; else ``kvm`` or ``qemu``.
    virt_type: str = "auto"
    #: ``libvirt`` or ``fake`` (tests).
    driver: str = "libvirt"
    libvirt_uri: str = "qemu:///system"
    instances_dir: str = ""
    ram_allocation_ratio: float = 1.5
    cpu_allocation_ratio: float = 16.0
    disk_allocation_ratio: float = 1.0
    reserved_host_memory_mb: int = 512
    #: seconds a deleted server stays SOFT_DELETED (restorable) before it is reclaimed; 0: delete
    #: at once (nova's reclaim_instance_interval)
    reclaim_instance_interval: int = 0
    #: seconds a SHELVED server keeps its host before it is offloaded; 0: at once, -1: never
    shelved_offload_time: int = 0
    #: seconds between two power-state syncs of the compute agent (a guest that powered itself
    #: off becomes SHUTOFF; nova's sync_power_state_interval); 0 or less: never
    sync_power_state_interval: float = 10.0
    #: seconds an unused base image stays in the image cache after its last use (nova's
    #: remove_unused_original_minimum_age_seconds)
    image_cache_max_age: int = 86400
    #: seconds between two image cache ageing passes (nova's image_cache.manager_interval);
    #: 0 or less: never
    image_cache_interval: float = 2400.0


class MetadataSettings(BaseModel):
    port: int = 8775
    #: Shared secret between the metadata proxy and the metadata API.
    shared_secret: str = ""


class NetworkSettings(BaseModel):
    port: int = 9696
    database_url: str = ""
    #: physical network -> host bridge, e.g. ``{"public": "br-ex"}``.
    physical_bridges: dict[str, str] = {"public": "br-ex"}
    dhcp_lease_seconds: int = 86400
    dns_domain: str = "openstacklocal"
    #: type drivers: project networks take the first type with a free id.
    tenant_network_types: list[str] = ["vxlan"]
    #: VXLAN VNIs for project networks, ``"min:max"`` each.
    vni_ranges: list[str] = ["1:1000"]
    #: ``"physnet:min:max"`` VLAN ids for project vlan networks (or ``"physnet"``: provider only).
    network_vlan_ranges: list[str] = []
    #: this host's VXLAN tunnel endpoint address (the L2 agent reports it to the others).
    local_ip: str = "127.0.0.1"
    #: security groups on instance taps: "iptables" (enforced by the L2 agent, the default) or
    #: "noop" (groups are stored and served but every packet passes).
    firewall_driver: str = "iptables"
    #: give a router an L3 agent (the one hosting fewest) when it gets a gateway or interface,
    #: and unhosted routers to a starting L3 agent; false pins none (admins schedule by API).
    router_auto_schedule: bool = True
    #: the same for networks with DHCP subnets and DHCP agents.
    network_auto_schedule: bool = True


class VncSettings(BaseModel):
    """VNC consoles (nova's ``[vnc]``; the token TTL is nova's ``[consoleauth] token_ttl``)."""

    #: offer VNC consoles (guests get a VNC server; ``os-getVNCConsole`` / remote-consoles).
    enabled: bool = True
    #: the noVNC proxy's port (nova's ``novncproxy_port``; 0: the proxy is not started).
    port: int = 6080
    #: the address guests' VNC servers listen on (nova's ``server_listen``).
    server_listen: str = "127.0.0.1"
    #: the address the proxy reaches this compute host's VNC servers on (``server_proxyclient_address``).
    server_proxyclient_address: str = "127.0.0.1"
    #: the page console URLs point at; default ``http://<public_host>:<port>/vnc_lite.html``.
    novncproxy_base_url: str = ""
    #: where the noVNC HTML/JS is (Debian package ``novnc``).
    novnc_dir: str = "/usr/share/novnc"
    #: seconds a console token stays valid.
    token_ttl: int = 600


class Settings(BaseModel):
    common: CommonSettings = CommonSettings()
    service_user: ServiceUser = ServiceUser()
    identity: IdentitySettings = IdentitySettings()
    image: ImageSettings = ImageSettings()
    compute: ComputeSettings = ComputeSettings()
    metadata: MetadataSettings = MetadataSettings()
    network: NetworkSettings = NetworkSettings()
    vnc: VncSettings = VncSettings()

    def path(self, *parts: str) -> Path:
        """A path under the state directory."""
        return Path(self.common.state_dir, *parts)

    def database_url(self, service: str) -> str:
        """The SQLAlchemy URL of ``service``'s database (SQLite file by default)."""
        url = getattr(self, service).database_url
        return url or f"sqlite+aiosqlite:///{self.path(service + '.db')}"

    def endpoint(self, service: str) -> str:
        """Base URL of a service API on this node, as put in the catalog."""
        port = getattr(self, service).port
        return f"http://{self.common.public_host}:{port}"

    @property
    def fernet_keys(self) -> Path:
        return Path(self.identity.key_repository or self.path("fernet-keys"))

    @property
    def image_store(self) -> Path:
        return Path(self.image.store_dir or self.path("images"))

    @property
    def image_cache_dir(self) -> Path:
        return Path(self.image.cache_dir or self.path("image-cache"))

    @property
    def image_staging(self) -> Path:
        return Path(self.image.staging_dir or self.path("image-staging"))

    @property
    def novncproxy_base_url(self) -> str:
        return self.vnc.novncproxy_base_url or f"http://{self.common.public_host}:{self.vnc.port}/vnc_lite.html"

    @property
    def instances_dir(self) -> Path:
        return Path(self.compute.instances_dir or self.path("instances"))


def _env_overrides(environ: dict[str, str]) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for key, value in environ.items():
        if not key.startswith("KUMO_") or "__" not in key:
            continue
        section, _, field = key[5:].lower().partition("__")
        out.setdefault(section, {})[field] = value
    return out


def load(path: str | None = None, environ: dict[str, str] | None = None) -> Settings:
    """Read settings from ``path`` (or ``$KUMO_CONFIG``) plus environment overrides.

    Raises ``pydantic.ValidationError`` for values of the wrong type.
    """
    environ = dict(os.environ if environ is None else environ)
    path = path or environ.get("KUMO_CONFIG", DEFAULT_CONFIG)
    data: dict[str, dict[str, Any]] = {}
    if path and os.path.exists(path):
        with open(path, "rb") as f:
            data = tomllib.load(f)
    for section, values in _env_overrides(environ).items():
        data.setdefault(section, {}).update(values)
    if environ.get("KUMO_STATE_DIR"):
        data.setdefault("common", {})["state_dir"] = environ["KUMO_STATE_DIR"]
    return Settings.model_validate(data)


def dump_toml(settings: Settings, *, changed_only: bool = False) -> str:
    """Render settings as TOML (str/int/float/bool values, lists and dicts of them).

    ``changed_only`` leaves out every value equal to its default (and sections
    with nothing left), so a written settings file does not freeze today's
    defaults: a later kumo's new defaults still apply to it.
    """
    lines: list[str] = []
    for section, model in settings:
        defaults = type(model)() if changed_only else None
        items = [(k, v) for k, v in model if defaults is None or getattr(defaults, k) != v]
        if changed_only and not items:
            continue
        lines.append(f"[{section}]")
        for key, value in items:
            lines.append(f"{key} = {_toml_value(value)}")
        lines.append("")
    return "\n".join(lines)


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{k} = {_toml_value(v)}" for k, v in value.items()) + " }"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    escaped = str(value).replace("\\", "\\\\").replace('"', '\\"')
    return f'"{escaped}"'
