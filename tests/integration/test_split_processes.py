"""kumo split over two processes that share nothing but HTTP and a RabbitMQ bus.

A private broker (scripts/rabbitmq.sh, state in a temp dir, free ports) and two
``kumo serve`` processes on one settings file (temp state dir, free API ports,
``bus_url`` = the broker, host ``split-node``, fake virt driver):

- process A: identity-api image-api network-api compute-api metadata-api scheduler
  (the APIs, the conductor and the scheduler, over the SQLite databases);
- process B: compute-agent (fake driver), which opens no database and serves no
  HTTP: it learns about instances only from the bus (``compute.split-node``),
  reports through the conductor over the bus, and reads images and makes ports
  through the image and network REST APIs.

Everything below goes through the REST APIs with an admin token: flavor, images,
a network (local type, so no host bridge: the fake driver plugs nothing) with a
subnet without DHCP (no dhcp-agent, nothing on the host), a key pair; a server
on a non-bootable raw image ends in ERROR with the agent's fault; one on a raw
image with an MBR boot signature becomes ACTIVE with its port in the network
API; its console output is a bus call from A to B; deleting it removes it and
its port. Every wait is bounded; processes, broker and temp dirs go in finally.
"""
from __future__ import annotations

import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import pytest

from kumo import config

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "rabbitmq.sh"
RABBIT_SERVER = Path("/usr/lib/rabbitmq/bin/rabbitmq-server")
KUMO = Path(sys.executable).parent / "kumo"

HOST = "split-node"
ADMIN_PASSWORD = "split-admin-pw"
WAIT = 60.0  # bound of every wait, seconds
PROCESS_A = ["identity-api", "image-api", "network-api", "compute-api", "metadata-api", "scheduler"]
PROCESS_B = ["compute-agent"]
API_SECTIONS = ("identity", "image", "network", "compute", "metadata")


# -- ports, processes, waits ---------------------------------------------------------------
def _free(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _api_port(taken: set[int]) -> int:
    """A free port below the kernel's ephemeral range (outgoing connections never take it)."""
    for _ in range(200):
        port = random.randrange(30000, 32700)
        if port not in taken and _free(port):
            taken.add(port)
            return port
    raise RuntimeError("no free port")


def _broker_ports(taken: set[int]) -> tuple[int, int]:
    """An AMQP port whose Erlang distribution (+20000) and CLI (+30000) ports are free,
    and a private Erlang port-mapper port (as tests/integration/test_bus_rabbit.py)."""
    for _ in range(200):
        amqp, epmd = random.randrange(20000, 25000), random.randrange(25000, 30000)
        ports = {amqp, amqp + 20000, amqp + 30000, epmd}
        if not ports & taken and all(_free(p) for p in ports):
            taken |= ports
            return amqp, epmd
    raise RuntimeError("no free ports for a test broker")


def _clean_env() -> dict[str, str]:
    """This environment without KUMO_* overrides: the settings file alone decides."""
    return {k: v for k, v in os.environ.items() if not k.startswith("KUMO_")}


def _tail(path: Path, lines: int = 60) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


class Proc:
    """A ``kumo serve`` process in a session (process group) of its own."""

    def __init__(self, name: str, conf: Path, names: list[str], logdir: Path):
        self.name, self.names = name, names
        self.killed = False
        self.log = logdir / f"{name}.log"
        self.out = logdir / f"{name}.out"
        with open(self.out, "wb") as out:
            self.popen = subprocess.Popen(
                [str(KUMO), "serve", *names, "--config", str(conf), "--log-file", str(self.log)],
                stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                env=_clean_env(), start_new_session=True)

    @property
    def pid(self) -> int:
        return self.popen.pid

    def check_alive(self) -> None:
        if self.popen.poll() is not None:
            raise AssertionError(f"process {self.name} ({' '.join(self.names)}) exited with "
                                 f"{self.popen.returncode}\n{self.report()}")

    def report(self) -> str:
        return (f"--- {self.name} log ---\n{_tail(self.log)}\n"
                f"--- {self.name} stdout/stderr ---\n{_tail(self.out)}")

    def stop(self) -> None:
        """SIGTERM to its process group, SIGKILL after 15 s (``killed`` says it came to that)."""
        if self.popen.poll() is None:
            for sig, grace in ((signal.SIGTERM, 15), (signal.SIGKILL, 10)):
                self.killed = sig == signal.SIGKILL
                try:
                    os.killpg(self.popen.pid, sig)
                except ProcessLookupError:
                    break
                try:
                    self.popen.wait(grace)
                    break
                except subprocess.TimeoutExpired:
                    continue
        # Anything of its group still there (it made none with the fake driver): kill it.
        try:
            os.killpg(self.popen.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass


def wait_for(what: str, probe, procs: list[Proc], timeout: float = WAIT, interval: float = 0.2):
    """Poll ``probe()`` until it returns a true value (returned); fail after ``timeout``
    or as soon as one of ``procs`` died."""
    deadline = time.monotonic() + timeout
    last = None
    while True:
        for p in procs:
            p.check_alive()
        try:
            result = probe()
            if result:
                return result
        except (httpx.HTTPError, KeyError, ValueError) as e:
            last = e
        if time.monotonic() > deadline:
            logs = "\n".join(p.report() for p in procs)
            raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what} "
                                 f"(last error: {last!r})\n{logs}")
        time.sleep(interval)


def bootable_raw(size: int = 512) -> bytes:
    """A raw disk of ``size`` bytes with the MBR boot signature 0x55AA at offset 510."""
    data = bytearray(size)
    data[510:512] = b"\x55\xaa"
    return bytes(data)


# -- the test ----------------------------------------------------------------------------------
def test_components_in_two_processes_over_http_and_rabbitmq():
    if os.geteuid() != 0:
        pytest.skip("integration tests run as root (CI)")
    assert RABBIT_SERVER.exists(), "rabbitmq-server is not installed: run scripts/rabbitmq.sh install"

    tmp = Path(tempfile.mkdtemp(prefix="kumo-split-"))
    broker_dir, state, logs = tmp / "rabbitmq", tmp / "state", tmp / "logs"
    logs.mkdir()
    taken: set[int] = set()
    amqp, epmd = _broker_ports(taken)
    broker_env = dict(os.environ, KUMO_RABBIT_EPMD_PORT=str(epmd), RABBITMQ_START_TIMEOUT=str(int(WAIT)))
    procs: list[Proc] = []
    broker_started = False
    started = time.monotonic()
    phases: list[tuple[str, float]] = []

    def phase(name: str) -> None:
        phases.append((name, time.monotonic()))

    try:
        # 1. the broker
        broker_started = True  # stop it even if start fails half way
        r = subprocess.run([str(SCRIPT), "start", str(broker_dir), str(amqp)], env=broker_env,
                           capture_output=True, text=True, timeout=WAIT + 30)
        assert r.returncode == 0, f"broker did not start:\n{r.stdout}\n{r.stderr}"
        bus_url = r.stdout.strip().splitlines()[-1]
        assert bus_url.startswith("rabbit://"), bus_url
        phase("broker started")

        # 2. settings + bootstrap
        settings = config.Settings()
        settings.common.state_dir = str(state)
        settings.common.host = HOST
        settings.common.bind_host = "127.0.0.1"
        settings.common.public_host = "127.0.0.1"
        settings.common.bus_url = bus_url
        settings.common.log_level = "info"
        for section in API_SECTIONS:
            getattr(settings, section).port = _api_port(taken)
        settings.identity.admin_port = _api_port(taken)   # the identity admin listener (35357 by default)
        settings.image.remote_port = 0                      # no second image worker in this split
        settings.compute.driver = "fake"
        settings.network.physical_bridges = {}
        settings.service_user.password = "split-service-pw"
        settings.metadata.shared_secret = "split-metadata-secret"
        conf = tmp / "kumo.toml"
        conf.write_text(config.dump_toml(settings))
        loaded = config.load(str(conf), environ={})
        assert loaded.common.bus_url == bus_url and loaded.network.physical_bridges == {}
        assert loaded.compute.port == settings.compute.port

        r = subprocess.run([str(KUMO), "bootstrap", "--config", str(conf),
                            "--admin-password", ADMIN_PASSWORD],
                           env=_clean_env(), capture_output=True, text=True, timeout=WAIT)
        assert r.returncode == 0, f"bootstrap failed:\n{r.stdout}\n{r.stderr}"
        phase("bootstrapped")

        # 3. process A (APIs, conductor, scheduler), then process B (the compute agent)
        a = Proc("A", conf, PROCESS_A, logs)
        procs.append(a)
        url = {s: f"http://127.0.0.1:{getattr(settings, s).port}" for s in API_SECTIONS}

        def apis_answer():
            for s in API_SECTIONS:
                httpx.get(url[s] + "/", timeout=5)  # any answer: it listens
            return True

        wait_for("the APIs of process A", apis_answer, procs)
        phase("process A answers")

        r = httpx.post(url["identity"] + "/v3/auth/tokens", timeout=30, json={"auth": {
            "identity": {"methods": ["password"], "password": {"user": {
                "name": "admin", "domain": {"id": "default"}, "password": ADMIN_PASSWORD}}},
            "scope": {"project": {"name": "admin", "domain": {"id": "default"}}}}})
        assert r.status_code == 201, r.text
        headers = {"X-Auth-Token": r.headers["X-Subject-Token"]}
        catalog = {svc["type"]: svc for svc in r.json()["token"]["catalog"]}
        assert set(catalog) >= {"identity", "image", "compute", "network"}
        nova = httpx.Client(base_url=url["compute"] + "/v2.1", headers=headers, timeout=30)
        glance = httpx.Client(base_url=url["image"] + "/v2", headers=headers, timeout=30)
        neutron = httpx.Client(base_url=url["network"] + "/v2.0", headers=headers, timeout=30)

        b = Proc("B", conf, PROCESS_B, logs)
        procs.append(b)

        def compute_service_up():
            r = nova.get("/os-services", params={"binary": "nova-compute"})
            r.raise_for_status()
            return [s for s in r.json()["services"] if s["host"] == HOST and s["state"] == "up"]

        def hypervisor_reported():
            r = nova.get("/os-hypervisors")
            r.raise_for_status()
            return [h for h in r.json()["hypervisors"] if h["hypervisor_hostname"] == HOST]

        wait_for("nova-compute of process B in GET /os-services", compute_service_up, procs)
        wait_for("the hypervisor of process B in GET /os-hypervisors", hypervisor_reported, procs)
        phase("process B reported")
        binaries = {s["binary"] for s in nova.get("/os-services").json()["services"] if s["host"] == HOST}
        assert binaries >= {"nova-compute", "nova-conductor", "nova-scheduler"}, binaries

        # Process B really is only an agent: no listening API port, no database open.
        b_fds = [os.readlink(f) for f in Path(f"/proc/{b.pid}/fd").iterdir()
                 if f.is_symlink()]
        assert not [f for f in b_fds if f.endswith(".db")], b_fds
        a_fds = [os.readlink(f) for f in Path(f"/proc/{a.pid}/fd").iterdir() if f.is_symlink()]
        assert [f for f in a_fds if f.endswith("compute.db")], a_fds

        # 4. resources through the REST APIs
        r = nova.post("/flavors", json={"flavor": {"name": "split.tiny", "id": "split-1",
                                                   "ram": 64, "vcpus": 1, "disk": 1}})
        assert r.status_code == 200, r.text

        def upload(name: str, data: bytes) -> str:
            r = glance.post("/images", json={"name": name, "disk_format": "raw",
                                             "container_format": "bare", "visibility": "public"})
            assert r.status_code == 201, r.text
            image_id = r.json()["id"]
            r = glance.put(f"/images/{image_id}/file", content=data,
                           headers={"Content-Type": "application/octet-stream"})
            assert r.status_code == 204, r.text
            assert glance.get(f"/images/{image_id}").json()["status"] == "active"
            return image_id

        junk_image = upload("split-junk", bytes(1024))
        image = upload("split-mbr", bootable_raw())

        r = neutron.post("/networks", json={"network": {"name": "split-net"}})
        assert r.status_code == 201, r.text
        net = r.json()["network"]
        assert net["provider:network_type"] == "vxlan"   # [network] tenant_network_types
        r = neutron.post("/subnets", json={"subnet": {"network_id": net["id"], "ip_version": 4,
                                                      "cidr": "10.213.7.0/24", "enable_dhcp": False}})
        assert r.status_code == 201, r.text
        subnet = r.json()["subnet"]

        r = nova.post("/os-keypairs", json={"keypair": {"name": "split-key"}})
        assert r.status_code == 200, r.text
        assert r.json()["keypair"]["private_key"].startswith("-----BEGIN")

        def boot(name: str, image_id: str) -> str:
            r = nova.post("/servers", json={"server": {
                "name": name, "imageRef": image_id, "flavorRef": "split-1",
                "networks": [{"uuid": net["id"]}], "key_name": "split-key"}})
            assert r.status_code == 202, r.text
            return r.json()["server"]["id"]

        def status_is(server_id: str, wanted: str):
            def probe():
                r = nova.get(f"/servers/{server_id}")
                r.raise_for_status()
                server = r.json()["server"]
                assert server["status"] not in ({"ACTIVE", "ERROR"} - {wanted}), server
                return server if server["status"] == wanted else None
            return probe

        def gone(server_id: str):
            return lambda: nova.get(f"/servers/{server_id}").status_code == 404

        def ports_of(server_id: str) -> list[dict]:
            r = neutron.get("/ports", params={"device_id": server_id})
            assert r.status_code == 200, r.text
            return r.json()["ports"]

        # The agent's image check refuses raw data without a boot sector: ERROR, port undone.
        bad = boot("split-bad", junk_image)
        server = wait_for(f"server {bad} in ERROR", status_is(bad, "ERROR"), procs)
        assert server["fault"]["message"] == (f"Image {junk_image} is not a bootable disk: "
                                              "no MBR boot signature or partition table"), server
        assert ports_of(bad) == []
        assert nova.delete(f"/servers/{bad}").status_code == 204
        wait_for(f"server {bad} deleted", gone(bad), procs)

        # A raw disk with an MBR signature boots (on the fake driver of process B).
        vm = boot("split-vm", image)
        server = wait_for(f"server {vm} ACTIVE", status_is(vm, "ACTIVE"), procs)
        assert server["OS-EXT-SRV-ATTR:host"] == HOST
        assert server["OS-EXT-STS:power_state"] == 1 and server["OS-EXT-STS:task_state"] is None
        assert server["key_name"] == "split-key"
        port, = ports_of(vm)
        assert port["network_id"] == net["id"] and port["binding:host_id"] == HOST
        assert port["device_owner"] == "compute:nova"
        assert port["fixed_ips"][0]["subnet_id"] == subnet["id"]
        assert server["addresses"]["split-net"][0]["addr"] == port["fixed_ips"][0]["ip_address"]
        assert (state / "instances" / vm / "disk").exists()  # written by process B
        assert f"instance {vm} is active on {HOST}" in b.log.read_text()

        # Console output: compute API (process A) -> bus call -> agent (process B).
        r = nova.post(f"/servers/{vm}/action", json={"os-getConsoleOutput": {"length": 10}})
        assert r.status_code == 200, r.text
        assert r.json()["output"].startswith("fake console for instance-"), r.text

        # Delete: terminate on the agent, instance_destroyed back through the conductor.
        assert nova.delete(f"/servers/{vm}").status_code == 204
        wait_for(f"server {vm} deleted", gone(vm), procs)
        assert ports_of(vm) == []
        assert neutron.get(f"/ports/{port['id']}").status_code == 404
        wait_for(f"instance directory of {vm} removed",
                 lambda: not (state / "instances" / vm).exists(), procs)
        wait_for("process B to log the delete",
                 lambda: f"instance {vm} deleted from {HOST}" in b.log.read_text(), procs)

        for client in (nova, glance, neutron):
            client.close()
        phase("scenario done")
        # Both stop cleanly on SIGTERM (the agent first, as an operator would).
        for p in reversed(procs):
            p.check_alive()
            p.stop()
            assert p.popen.returncode == 0 and not p.killed, \
                f"{p.name} did not stop cleanly (rc {p.popen.returncode})\n{p.report()}"
        phase("processes stopped")
    except BaseException:
        for p in procs:
            print(p.report())
        raise
    finally:
        for p in reversed(procs):
            p.stop()
        if broker_started and (broker_dir / "env").exists():
            subprocess.run([str(SCRIPT), "stop", str(broker_dir)], env=broker_env,
                           capture_output=True, timeout=120)
        shutil.rmtree(tmp, ignore_errors=True)
        phase("broker stopped, cleaned up")
        last = started
        for name, at in phases:
            print(f"  {name}: +{at - last:.1f}s")
            last = at
        print(f"split-process test took {time.monotonic() - started:.1f}s")
