#!/usr/bin/env python3
"""Run Tempest against the running kumo cloud: ``make tempest AREA=identity``.

Usage: ``.venv/bin/python scripts/tempest.py AREA [extra ``tempest run`` args]``
with AREA one of identity, image, compute, network, volume, object_storage,
scenario, smoke. Example of a subset::

    .venv/bin/python scripts/tempest.py compute --exclude-regex 'test_list_servers_negative'

What it does:

1. creates the workspace ``build/tempest`` (``tempest init``, registered in
   ``build/tempest/workspace.yaml``, not in ~/.tempest) when it is missing;
2. makes sure the public image ``cirros-alt`` exists (uploaded from
   ``build/cirros.qcow2`` through the image API);
3. writes ``build/tempest/etc/tempest.conf`` from the running cloud (admin
   credentials of ``/etc/openstack/clouds.yaml`` cloud ``admin``, region,
   endpoints, images, flavors 42/84, the shared network ``public``, the network
   extensions the cloud lists) and from what kumo implements (the feature flags
   below: conservative, a feature kumo lacks is off);
4. runs ``tempest run --regex '^tempest\\.api\\.<area>'`` (scenario:
   ``^tempest\\.scenario``, smoke: ``--smoke``) with ``--concurrency 2``,
   prints one line per test, keeps the subunit stream in
   ``build/tempest/results/<area>.subunit``, the tempest log in
   ``<area>-tempest.log`` and, in ``<area>-failures.txt``, each failure with
   its last traceback line and its last HTTP error (from the tempest log),
   the failures grouped by that error, and every HTTP 5xx seen;
5. deletes what the run leaked (resources named ``tempest-*`` created during
   the run: servers, ports, subnets, networks, images, users, projects, roles,
   domains) and reports new tracebacks in the kumo log;
6. ends with ``N passed, N failed, N skipped``.

Environment: ``TEMPEST_CONCURRENCY`` (2), ``TEMPEST_TIMEOUT`` (seconds, none:
the run is stopped past it and the partial results counted),
``TEMPEST_RUN_VALIDATION`` (1: ssh into guests over the ``public`` network),
``TEMPEST_ISOLATED_NETWORKS`` (1 for scenario and compute, else 0: a network + router per test
project, guests reached through floating IPs; compute's floating IP tests need servers on a
routed project network, not on the external network),
``TEMPEST_CLEANUP`` (1), ``TEMPEST_WORKSPACE`` (build/tempest), ``OS_CLOUD`` (admin), ``KUMO_LOG``
(/var/lib/kumo/logs/kumo.log).
"""
from __future__ import annotations

import configparser
import functools
import http.server
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from tempest_results import Counter, Tee, write_failures  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
VENV_BIN = ROOT / ".venv" / "bin"
WORKSPACE = Path(os.environ.get("TEMPEST_WORKSPACE") or ROOT / "build" / "tempest")
RESULTS = WORKSPACE / "results"
IMAGE_FILE = ROOT / "build" / "cirros.qcow2"
ALT_IMAGE = "cirros-alt"
IMAGE = "cirros"
FLAVOR, FLAVOR_ALT = "42", "84"
NETWORK = "public"
SSH_USER, SSH_PASSWORD = "cirros", "gocubsgo"
MIN_MICROVERSION, MAX_MICROVERSION = "2.1", "2.79"

AREAS = {
    "identity": ["--regex", r"^tempest\.api\.identity"],
    "image": ["--regex", r"^tempest\.api\.image"],
    "compute": ["--regex", r"^tempest\.api\.compute"],
    "network": ["--regex", r"^tempest\.api\.network"],
    "volume": ["--regex", r"^tempest\.api\.volume"],
    "object_storage": ["--regex", r"^tempest\.api\.object_storage"],
    "scenario": ["--regex", r"^tempest\.scenario"],
    "smoke": ["--smoke"],
}

#: Services tempest may test: only those kumo serves.
SERVICES = {"keystone": True, "nova": True, "glance": True, "neutron": True,
            "cinder": False, "swift": False, "horizon": False, "heat": False,
            "ceilometer": False, "aodh": False, "designate": False, "octavia": False,
            "manila": False, "ironic": False, "barbican": False, "trove": False,
            "zaqar": False, "sahara": False, "mistral": False, "placement": False}

#: What kumo's compute API implements (kumo/compute/api): servers (create, list,
#: show, update, delete), the os-getConsoleOutput action, server metadata,
#: flavors (+ access, extra specs), keypairs, services, hypervisors,
#: availability zones, limits and quota sets (read only). No other server
#: action, no console, no interface or volume attach, no snapshot, no migration.
COMPUTE_FEATURES = {
    "console_output": True,
    "metadata_service": True,        # kumo.compute.metadata (169.254.169.254)
    "config_drive": True,            # kumo.compute.virt.configdrive
    "enable_instance_password": True,  # adminPass in the create response
    "hostname_fqdn_sanitization": True,  # objects.sanitize_hostname: "." -> "-"
    "disk_config": True,             # Instance.auto_disk_config (create, update, rebuild, resize)
    "change_password": True,         # changePassword -> agent set_admin_password (fake: recorded)
    "resize": True,  # kumo.compute.lifecycle: same-host resize, confirm/revert
    "pause": True,  # kumo.compute.agent.lifecycle
    "suspend": True,  # kumo.compute.agent.lifecycle (libvirt managed save)
    "shelve": True,  # snapshot + offload; unshelve through the scheduler's filters
    "shelve_migrate": False,
    "cold_migration": False,
    "live_migration": False,
    "live_migrate_back_and_forth": False,
    "block_migration_for_live_migration": False,
    "vnc_console": True,  # kumo/compute/api/consoles.py + the noVNC proxy (kumo/compute/novncproxy.py)
    "spice_console": False,
    "serial_console": False,
    "rescue": True,  # rescue image as vda, the server's disk as vdb
    "stable_rescue": True,  # hw_rescue_device/hw_rescue_bus: rescue disk added, booted first
    "interface_attach": True,        # kumo/compute/api/interfaces.py (os-interface)
    "snapshot": True,  # createImage / createBackup: qemu-img convert -U, upload to glance
    "personality": True,             # Instance.injected_files (< 2.57, injected_files quotas)
    "attach_encrypted_volume": False,
    "swap_volume": False,
    "volume_backed_live_migration": False,
    "volume_multiattach": False,
    "ide_bus": True,                 # machine "pc": IDE disks/CD-ROMs (config drive, cdrom rescue)
    "unified_limits": False,
    "vtpm_live_migration": False,
}
#: kumo.compute.scheduler.filters: ComputeFilter plus the capacity filters;
#: kumo.compute.scheduler.constraints: zones, server groups, same/different host hints.
SCHEDULER_FILTERS = ("ComputeFilter,VCPUFilter,RamFilter,DiskFilter,AvailabilityZoneFilter,"
                     "ServerGroupAffinityFilter,ServerGroupAntiAffinityFilter,SameHostFilter,"
                     "DifferentHostFilter")

#: kumo/image/api: images CRUD, data upload/download, tags, deactivate,
#: reactivate, schemas, members, tasks, metadefs, interoperable import
#: (glance-direct, web-download, glance-download, copy-image) into the file stores
#: ``file1``/``file2`` of ``[image] stores``; the read-only http store ``web``; the cache API.
IMAGE_FEATURES = {
    "api_v2": True,
    "import_image": True,            # kumo.image.imports
    "os_glance_reserved": True,      # kumo.image.schemas refuses os_glance*
    "manage_locations": True,        # kumo.image.locations ([image] show_multiple_locations)
    "image_conversion": True,        # imports convert to [image] import_target_format
    # kumo.image.formats refuses qcow2/vmdk/vdi/vhd/vhdx data without its format's header, but
    # data with no header is legitimate raw/ami/ari/aki/iso/ploop data and is accepted. tempest
    # uses this flag to skip ListUserImagesTest (random bytes under all_pairs[:6] of
    # IMAGE_DISK_FORMATS x IMAGE_CONTAINER_FORMATS: ordered below so those six pairs are
    # bare x header-less formats, which kumo does accept) and, otherwise, only in
    # test_images_formats.py, which needs [image] images_manifest_file (not set here: with a
    # manifest of bad images this flag would have to be true, kumo refuses them on upload).
    "image_format_enforcement": False,
    "do_secure_hash": True,          # sha512 os_hash_value on upload
    "http_store_enabled": True,      # kumo.image.store.http (read-only "web" store)
    "store_weight_enabled": True,    # [image] store_weights (file1 100 > file2 50), /v2/info/stores
}

#: tempest's [image] disk_formats/container_formats: all that kumo.image.schemas accepts, the
#: formats kumo does not inspect first (see image_format_enforcement above): the first six pairs
#: are ("bare", raw|ami|ari|aki|iso|ploop), and disk_formats[0] (random data in several tests) is raw.
IMAGE_DISK_FORMATS = ["raw", "ami", "ari", "aki", "iso", "ploop", "qcow2", "vmdk", "vdi", "vhd", "vhdx"]
IMAGE_CONTAINER_FORMATS = ["bare", "ami", "ari", "aki", "ovf", "ova", "docker", "compressed"]

#: kumo/identity/api: tokens, domains, projects, users (+ password), roles and
#: grants (user on project/domain), role assignments, regions, services,
#: endpoints, the v2.0 token call. No trusts, groups, credentials, policies,
#: application credentials, OS-* extensions, domain configs, limits.
IDENTITY_FEATURES = {
    "trust": True,                   # kumo.identity.trusts
    "api_v2": False,
    "api_v2_admin": False,
    "api_v3": True,
    "api_extensions": "OS-INHERIT,OS-TRUST,OS-EC2,OS-EP-FILTER,OS-OAUTH1",
    "domain_specific_drivers": False,
    "security_compliance": True,     # kumo.identity.security ([identity] settings, see identity_compliance)
    "access_rules": True,            # kumo.identity.appcreds
    "immutable_user_source": False,
}


def log(msg: str) -> None:
    print(f"tempest.py: {msg}", flush=True)


def connect(cloud: str):
    import openstack
    return openstack.connect(cloud=cloud)


# --- the cloud ------------------------------------------------------------------------------

def ensure_alt_image(conn) -> str:
    """The id of the public image ``cirros-alt``, uploading build/cirros.qcow2 when missing."""
    found = [i for i in conn.image.images(name=ALT_IMAGE) if i.status == "active"]
    if found:
        return found[0].id
    for image in conn.image.images(name=ALT_IMAGE):  # a half-made one from an earlier try
        conn.image.delete_image(image.id, ignore_missing=True)
    if not IMAGE_FILE.exists():
        sys.exit(f"{IMAGE_FILE} is missing: run `make image` first")
    endpoint = conn.session.get_endpoint(service_type="image", interface="public")
    body = {"name": ALT_IMAGE, "disk_format": "qcow2", "container_format": "bare",
            "visibility": "public"}
    resp = conn.session.post(f"{endpoint}/v2/images", json=body)
    image_id = resp.json()["id"]
    with IMAGE_FILE.open("rb") as f:
        conn.session.put(f"{endpoint}/v2/images/{image_id}/file", data=f,
                         headers={"Content-Type": "application/octet-stream"})
    for _ in range(60):
        if conn.image.get_image(image_id).status == "active":
            break
        time.sleep(1)
    else:
        sys.exit(f"image {ALT_IMAGE} ({image_id}) did not become active")
    log(f"created public image {ALT_IMAGE} ({image_id}) from {IMAGE_FILE}")
    return image_id


def serve_image_file() -> str:
    """Serve ``build/cirros.qcow2`` on loopback for the run (web-download imports); its URL."""
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(IMAGE_FILE.parent))
    handler.log_message = lambda *args: None
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return f"http://127.0.0.1:{server.server_address[1]}/{IMAGE_FILE.name}"


def image_id(conn, name: str) -> str:
    found = [i for i in conn.image.images(name=name) if i.status == "active"]
    if not found:
        sys.exit(f"image {name!r} not found: is the cloud up (`kumo up --image {IMAGE_FILE}`)?")
    return found[0].id


def compute_max_microversion(conn) -> str:
    """The ``version`` of the compute v2.1 document, at most :data:`MAX_MICROVERSION`."""
    try:
        endpoint = conn.session.get_endpoint(service_type="compute", interface="public")
        doc = conn.session.get(endpoint.rstrip("/") + "/").json()["version"]
        major, minor = (int(p) for p in doc["version"].split("."))
        cap_major, cap_minor = (int(p) for p in MAX_MICROVERSION.split("."))
        return f"{major}.{minor}" if (major, minor) < (cap_major, cap_minor) else MAX_MICROVERSION
    except Exception as exc:  # noqa: BLE001 - discovery is a nicety
        log(f"compute version discovery failed ({exc}); using {MAX_MICROVERSION}")
        return MAX_MICROVERSION


def cloud_facts(conn) -> dict:
    auth = conn.config.config["auth"]
    region = conn.config.get_region_name() or "RegionOne"
    identity = conn.session.get_endpoint(service_type="identity", interface="public").rstrip("/")
    if not identity.endswith("/v3"):
        identity += "/v3"
    user_domain = auth.get("user_domain_name") or conn.identity.get_domain(
        auth.get("user_domain_id", "default")).name
    project_domain = auth.get("project_domain_name") or conn.identity.get_domain(
        auth.get("project_domain_id", "default")).name
    network = conn.network.find_network(NETWORK)
    if network is None:
        sys.exit(f"network {NETWORK!r} not found")
    extensions = sorted(e.alias for e in conn.network.extensions())
    return {
        "username": auth["username"], "password": auth["password"],
        "project_name": auth["project_name"], "user_domain": user_domain,
        "project_domain": project_domain, "region": region, "uri_v3": identity,
        "image_ref": image_id(conn, IMAGE), "image_ref_alt": ensure_alt_image(conn),
        "network_id": network.id, "network_extensions": extensions,
        "max_microversion": compute_max_microversion(conn),
    }


# --- the workspace and its configuration ------------------------------------------------------

def ensure_workspace() -> None:
    if (WORKSPACE / ".stestr.conf").exists() and (WORKSPACE / "etc").is_dir():
        return
    WORKSPACE.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run([str(VENV_BIN / "tempest"), "init", "--name", "kumo",
                    "--workspace-path", str(WORKSPACE / "workspace.yaml"), str(WORKSPACE)],
                   check=True)
    log(f"created the tempest workspace {WORKSPACE}")


def identity_compliance() -> dict:
    """tempest's security compliance options, from the cloud's ``[identity]`` settings ($KUMO_CONFIG)."""
    sys.path.insert(0, str(ROOT))
    from kumo import config
    ident = config.load().identity
    return {"user_lockout_failure_attempts": ident.lockout_failure_attempts,
            "user_lockout_duration": ident.lockout_duration,
            "user_unique_last_password_count": ident.unique_last_password_count,
            "user_minimum_password_age": ident.minimum_password_age}


def _flags(values: dict) -> dict:
    return {k: (str(v).lower() if isinstance(v, bool) else str(v)) for k, v in values.items()}


def write_config(facts: dict, run_validation: bool, isolated: bool = False) -> Path:
    """tempest.conf for the cloud of ``facts``. ``isolated``: every test project gets its own
    VXLAN network, subnet and router to ``public`` and guests are reached through floating IPs
    (devstack's layout, what the network scenarios need); otherwise servers go on the flat
    ``public`` network, reachable from this host (cheaper for the API areas)."""
    conf = configparser.ConfigParser(interpolation=None)
    conf["DEFAULT"] = {"log_file": str(WORKSPACE / "logs" / "tempest.log"), "debug": "false",
                       "use_stderr": "false"}
    conf["auth"] = {
        "use_dynamic_credentials": "true",
        "create_isolated_networks": str(isolated).lower(),
        "admin_username": facts["username"],
        "admin_password": facts["password"],
        "admin_project_name": facts["project_name"],
        "admin_domain_name": facts["user_domain"],
        "admin_user_domain_name": facts["user_domain"],
        "admin_project_domain_name": facts["project_domain"],
        "default_credentials_domain_name": facts["user_domain"],
    }
    conf["identity"] = {
        "uri_v3": facts["uri_v3"], "auth_version": "v3", "region": facts["region"],
        "v3_endpoint_type": "public", "admin_role": "admin", "default_domain_id": "default",
        **identity_compliance(),
    }
    conf["identity-feature-enabled"] = _flags(IDENTITY_FEATURES)
    conf["compute"] = {
        "image_ref": facts["image_ref"], "image_ref_alt": facts["image_ref_alt"],
        "flavor_ref": FLAVOR, "flavor_ref_alt": FLAVOR_ALT,
        "fixed_network_name": NETWORK, "region": facts["region"],
        "min_microversion": MIN_MICROVERSION, "max_microversion": facts["max_microversion"],
        "build_timeout": "180", "build_interval": "1", "endpoint_type": "publicURL",
    }
    conf["compute-feature-enabled"] = _flags(dict(
        COMPUTE_FEATURES, scheduler_enabled_filters=SCHEDULER_FILTERS,
        dhcp_domain=".novalocal"))
    conf["image"] = {"region": facts["region"], "endpoint_type": "publicURL",
                     "build_timeout": "120", "build_interval": "1",
                     "http_image": facts["http_image"], "http_qcow2_image": facts["http_image"],
                     "disk_formats": ",".join(IMAGE_DISK_FORMATS),
                     "container_formats": ",".join(IMAGE_CONTAINER_FORMATS),
                     "image_caching_enabled": "true",  # kumo.image.cache (/v2/cache)
                     # the second image worker (kumo.image.workers, [image] remote_port)
                     "alternate_image_endpoint": "image_remote"}
    conf["image-feature-enabled"] = _flags(IMAGE_FEATURES)
    conf["network"] = {
        "region": facts["region"], "endpoint_type": "publicURL",
        # 'public' is the external network once kumo lists the router extension
        "public_network_id": facts["network_id"] if "router" in facts["network_extensions"] else "",
        "floating_network_name": NETWORK,
        # the flat 'public' network is on the host; project VXLAN networks are not
        "project_networks_reachable": str(not isolated).lower(),
        "shared_physical_network": str(not isolated).lower(),
        "build_timeout": "120", "build_interval": "1",
    }
    exts = facts["network_extensions"]
    conf["network-feature-enabled"] = _flags({
        "api_extensions": ",".join(exts),
        "available_features": "",
        "ipv6": True,
        "ipv6_subnet_attributes": True,  # ipv6_ra_mode/address_mode, EUI-64 (kumo/network/ipam.py)
        "port_admin_state_change": True,
        "port_security": "port-security" in exts,
        "floating_ips": "router" in exts,
    })
    conf["validation"] = _flags({
        "run_validation": run_validation,
        "connect_method": "floating" if isolated else "fixed",
        "network_for_ssh": NETWORK,
        "auth_method": "keypair",
        "ssh_key_type": "rsa",       # kumo generates RSA keypairs
        "security_group": "security-group" in exts,
        "security_group_rules": "security-group" in exts,
        "image_ssh_user": SSH_USER, "image_ssh_password": SSH_PASSWORD,
        "image_alt_ssh_user": SSH_USER, "image_alt_ssh_password": SSH_PASSWORD,
        "ping_timeout": 60, "connect_timeout": 30, "ssh_timeout": 120,
    })
    conf["scenario"] = {"img_file": str(IMAGE_FILE), "img_disk_format": "qcow2",
                        "img_container_format": "bare"}
    conf["service_available"] = _flags({k: v for k, v in SERVICES.items()
                                        if k not in ("keystone",)})
    path = WORKSPACE / "etc" / "tempest.conf"
    (WORKSPACE / "logs").mkdir(exist_ok=True)
    with path.open("w") as f:
        f.write("# Written by scripts/tempest.py from the running kumo cloud; rewritten every run.\n")
        conf.write(f)
    path.chmod(0o600)
    return path


# --- running and counting --------------------------------------------------------------------

def selection(area: str, extra: list[str]) -> list[str]:
    """The area's test selection, unless the extra arguments choose the tests themselves."""
    selectors = {"--regex", "-r", "--smoke", "-s", "--load-list", "--load_list",
                 "--include-list", "--include_list"}
    chosen = any(a.split("=", 1)[0] in selectors for a in extra)
    return [] if chosen else AREAS[area]


def tempest_env() -> dict:
    return dict(os.environ, TEMPEST_CONFIG_DIR=str(WORKSPACE / "etc"),
                PATH=f"{VENV_BIN}:{os.environ.get('PATH', '')}")


def hidden_tests(area: str, extra: list[str], counter: "Counter") -> dict[str, int]:
    """How many selected tests sit in classes whose setUpClass failed ("fail") or skipped ("skip"):
    subunit reports each such class as one result."""
    if not counter.class_level:
        return {}
    out = subprocess.run([str(VENV_BIN / "tempest"), "run", *selection(area, extra), *extra,
                          "--list-tests"], cwd=WORKSPACE, env=tempest_env(),
                         capture_output=True, text=True)
    listed = [ln.split("[", 1)[0] for ln in out.stdout.splitlines() if ln.startswith("tempest.")]
    hidden = {"fail": 0, "skip": 0}
    for cls, kind in counter.class_level.items():
        hidden[kind] += sum(1 for t in listed if t.startswith(cls + "."))
    return hidden


def run_tempest(area: str, extra: list[str], concurrency: str, timeout: float | None) -> tuple[Counter, bool]:
    import subunit
    import testtools

    RESULTS.mkdir(parents=True, exist_ok=True)
    cmd = [str(VENV_BIN / "tempest"), "run", *selection(area, extra),
           "--concurrency", concurrency, "--subunit", *extra]
    log("running: " + " ".join(f"'{c}'" if any(ch in c for ch in " \\^$*") else c for c in cmd))
    env = tempest_env()
    proc = subprocess.Popen(cmd, cwd=WORKSPACE, stdout=subprocess.PIPE, env=env,
                            start_new_session=True)
    stopped = threading.Event()

    def stop() -> None:
        if proc.poll() is None:
            stopped.set()
            log(f"time limit of {timeout:.0f}s reached: stopping the run (partial results follow)")
            os.killpg(proc.pid, signal.SIGTERM)
            time.sleep(10)
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)

    timer = threading.Timer(timeout, stop) if timeout else None
    if timer:
        timer.daemon = True
        timer.start()
    counter = Counter()
    with (RESULTS / f"{area}.subunit").open("wb") as sink:
        source = subunit.ByteStreamToStreamResult(Tee(proc.stdout, sink),
                                                  non_subunit_name="stdout")
        result = testtools.StreamToDict(counter)
        result.startTestRun()
        try:
            source.run(result)
        except KeyboardInterrupt:
            stopped.set()
            os.killpg(proc.pid, signal.SIGTERM)
        finally:
            result.stopTestRun()
    proc.wait()
    if timer:
        timer.cancel()
    return counter, stopped.is_set()


# --- keeping the cloud clean -----------------------------------------------------------------

def _inventory(conn) -> dict[str, dict[str, str]]:
    """id -> name of the resources tempest can leave behind, per kind."""
    def names(items):
        return {i.id: (i.name or "") for i in items}
    return {
        "server": names(conn.compute.servers(all_projects=True)),
        "port": names(conn.network.ports()),
        "subnet": names(conn.network.subnets()),
        "network": names(conn.network.networks()),
        "image": names(conn.image.images()),
        "user": names(conn.identity.users()),
        "project": names(conn.identity.projects()),
        "role": names(conn.identity.roles()),
        "domain": names(conn.identity.domains()),
    }


def cleanup(conn, before: dict) -> None:
    after = _inventory(conn)
    leaked = {kind: {i: n for i, n in items.items()
                     if i not in before.get(kind, {}) and n.lower().startswith("tempest")}
              for kind, items in after.items()}
    total = sum(len(v) for v in leaked.values())
    if not total:
        log("cloud clean: the run left no tempest-* resources behind")
        return
    log(f"the run left {total} tempest-* resources behind; deleting them")
    delete = {
        "server": lambda i: conn.compute.delete_server(i, ignore_missing=True),
        "port": lambda i: conn.network.delete_port(i, ignore_missing=True),
        "subnet": lambda i: conn.network.delete_subnet(i, ignore_missing=True),
        "network": lambda i: conn.network.delete_network(i, ignore_missing=True),
        "image": lambda i: (conn.image.update_image(i, is_protected=False),
                            conn.image.delete_image(i, ignore_missing=True)),
        "user": lambda i: conn.identity.delete_user(i, ignore_missing=True),
        "project": lambda i: conn.identity.delete_project(i, ignore_missing=True),
        "role": lambda i: conn.identity.delete_role(i, ignore_missing=True),
        "domain": lambda i: (conn.identity.update_domain(i, is_enabled=False),
                             conn.identity.delete_domain(i, ignore_missing=True)),
    }
    for kind in delete:
        for rid, name in leaked[kind].items():
            try:
                delete[kind](rid)
                if kind == "server":
                    conn.compute.wait_for_delete(conn.compute.get_server(rid), wait=120)
                print(f"  deleted {kind} {name} ({rid})")
            except Exception as exc:  # noqa: BLE001 - report and go on
                if kind == "server" and "NotFound" in type(exc).__name__:
                    print(f"  deleted {kind} {name} ({rid})")
                    continue
                print(f"  could not delete {kind} {name} ({rid}): {exc}")


def log_mark(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return -1


def new_tracebacks(path: Path, mark: int) -> list[str]:
    if mark < 0:
        return []
    try:
        with path.open("rb") as f:
            f.seek(mark)
            text = f.read().decode("utf-8", "replace")
    except OSError:
        return []
    lines = text.splitlines()
    hits = []
    for n, line in enumerate(lines):
        if "Traceback" in line or "unexpected error" in line.lower():
            hits.append(lines[n - 1] if "Traceback" in line and n else line)
    return hits


def main(argv: list[str]) -> int:
    if not argv or argv[0] not in AREAS:
        print(__doc__)
        print(f"AREA must be one of: {', '.join(AREAS)}", file=sys.stderr)
        return 2
    area, extra = argv[0], argv[1:]
    concurrency = os.environ.get("TEMPEST_CONCURRENCY", "2")
    timeout = float(os.environ["TEMPEST_TIMEOUT"]) if os.environ.get("TEMPEST_TIMEOUT") else None
    run_validation = os.environ.get("TEMPEST_RUN_VALIDATION", "1") not in ("0", "false", "no")
    kumo_log = Path(os.environ.get("KUMO_LOG", "/var/lib/kumo/logs/kumo.log"))

    conn = connect(os.environ.get("OS_CLOUD", "admin"))
    ensure_workspace()
    facts = cloud_facts(conn)
    facts["http_image"] = serve_image_file()
    isolated = os.environ.get("TEMPEST_ISOLATED_NETWORKS", "1" if area in ("scenario", "compute") else "0") \
        not in ("0", "false", "no")
    path = write_config(facts, run_validation, isolated)
    log(f"wrote {path} (region {facts['region']}, image {facts['image_ref']}, "
        f"alt {facts['image_ref_alt']}, compute {MIN_MICROVERSION}-{facts['max_microversion']}, "
        f"validation {'on' if run_validation else 'off'}, "
        f"{'isolated project networks' if isolated else 'servers on public'})")

    before = _inventory(conn)
    mark = log_mark(kumo_log)
    tempest_log = WORKSPACE / "logs" / "tempest.log"
    tempest_log.unlink(missing_ok=True)  # one log per run
    started = time.monotonic()
    counter, interrupted = run_tempest(area, extra, concurrency, timeout)
    minutes = (time.monotonic() - started) / 60
    if tempest_log.exists():
        shutil.copyfile(tempest_log, RESULTS / f"{area}-tempest.log")
    server_errors = write_failures(RESULTS, area, counter, tempest_log)
    if os.environ.get("TEMPEST_CLEANUP", "1") not in ("0", "false", "no"):
        conn = connect(os.environ.get("OS_CLOUD", "admin"))  # a fresh token
        cleanup(conn, before)
    hits = new_tracebacks(kumo_log, mark)
    if hits:
        log(f"{len(hits)} tracebacks/unexpected errors in {kumo_log} during the run:")
        for line in hits[:20]:
            print(f"  {line}")
    if server_errors:
        log(f"{len(server_errors)} HTTP 5xx responses during the run:")
        for line in server_errors[:20]:
            print(f"  {line}")
    log(f"results: {RESULTS / (area + '.subunit')}, failures: "
        f"{RESULTS / (area + '-failures.txt')}; {minutes:.1f} min"
        + (" (STOPPED at the time limit: partial)" if interrupted else ""))
    hidden = hidden_tests(area, extra, counter)
    if hidden:
        fails = sum(1 for k in counter.class_level.values() if k == "fail")
        skips = len(counter.class_level) - fails
        log(f"class-level results (counted once each below): {fails} setUpClass failures hide "
            f"{hidden['fail']} tests, {skips} class skips hide {hidden['skip']} tests")
    print(f"{counter.passed} passed, {counter.failed} failed, {counter.skipped} skipped", flush=True)
    return 1 if counter.failed or interrupted else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
