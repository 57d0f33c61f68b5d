"""Integration test: build the kumo "cirros" guest image and boot it.

The image (images/cirros/build.sh) is booted from its own disk with QEMU
(TCG, SeaBIOS, machine pc, 128 MB, virtio disk + virtio NIC), the way the
compute service will boot it.  The host side plays the cloud:

* a Linux bridge ``kumotst0`` (10.250.0.1/24, plus 169.254.169.254/32) with
  the VM's tap device on it,
* dnsmasq on that bridge handing out a lease with the classless static route
  option (121) for the metadata address,
* a small HTTP server on 169.254.169.254:80 answering the EC2 metadata paths.

The test checks the serial console lines, the DHCP lease, the metadata
requests, ping, ``ssh cirros@VM hostname`` with a key delivered through the
metadata service, and finally an ACPI power-button shutdown.

Everything it creates (qemu, tap, bridge, dnsmasq, addresses, temporary
files) is removed at the end, also on failure.  It needs root (bridges,
taps, port 80) and is skipped only when not run as root.
"""

from __future__ import annotations

import contextlib
import http.server
import json
import os
import re
import shutil
import signal
import socket
import struct
import subprocess
import tempfile
import threading
import time
from pathlib import Path

import pytest

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(
        not hasattr(os, "geteuid") or os.geteuid() != 0,
        reason="needs root (bridge, tap, dnsmasq, port 80)",
    ),
]

REPO = Path(__file__).resolve().parents[2]
BUILD_SH = REPO / "images" / "cirros" / "build.sh"
IMAGE = REPO / "build" / "cirros.qcow2"

BRIDGE = "kumotst0"
TAP = "kumotst0t0"
HOST_IP = "10.250.0.1"
PREFIX = 24
MD_IP = "169.254.169.254"
VM_MAC = "fa:16:3e:4b:55:01"
VM_IP = "10.250.0.23"  # fixed MAC -> IP mapping, as Neutron configures dnsmasq

MD_HOSTNAME = "kumo-vm1.novalocal"  # the guest must use the short form
SHORT_HOSTNAME = "kumo-vm1"
INSTANCE_ID = "i-00004b55"
KEY_NAME = "kumotest"

BUILD_TIMEOUT = 900  # seconds; a cold build downloads ~35 MB of .debs
BOOT_TIMEOUT = 120  # seconds, for every wait on the guest

BOOT_LINES = [
    re.compile(r"kumo-cirros: starting"),
    re.compile(r"kumo-cirros: modules loaded:.*virtio_net"),
    re.compile(r"kumo-cirros: eth0 up, address (\d+\.\d+\.\d+\.\d+)"),
    re.compile(r"kumo-cirros: metadata service reachable"),
    re.compile(r"kumo-cirros: hostname " + re.escape(SHORT_HOSTNAME) + r"\b"),
    re.compile(r"kumo-cirros: 1 ssh public key"),
    re.compile(r"kumo-cirros: sshd ready"),
]


def run(*cmd: str, check: bool = True, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run(
        list(cmd), check=check, timeout=timeout, capture_output=True, text=True
    )


def ip(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    return run("ip", *args, check=check)


def link_exists(name: str) -> bool:
    return Path("/sys/class/net", name).exists()


def wait_for(predicate, timeout: float, interval: float = 0.2, what: str = "condition"):
    """Poll predicate() until it returns something truthy; bounded."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(interval)


# Children are started through ``setpriv --pdeathsig KILL`` so that they die
# with pytest even if pytest itself is killed (SIGKILL after a CI timeout).
DIE_WITH_PARENT = ["setpriv", "--pdeathsig", "KILL", "--"]


@contextlib.contextmanager
def sigterm_raises():
    """Turn SIGTERM (e.g. from a CI timeout) into KeyboardInterrupt so that the
    fixtures' finally blocks still clean up."""

    def handler(signum, frame):
        raise KeyboardInterrupt(f"signal {signum}")

    try:
        previous = signal.signal(signal.SIGTERM, handler)
    except ValueError:  # not in the main thread
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def stop_process(proc: subprocess.Popen | None, timeout: float = 10) -> None:
    if proc is None or proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=timeout)


# --------------------------------------------------------------- metadata
class MetadataServer:
    """A tiny EC2-style metadata service (plain-text paths only)."""

    def __init__(self, address: str, pubkey: str):
        self.requests: list[str] = []
        lock = threading.Lock()
        files = {
            "/latest/meta-data/": "hostname\ninstance-id\npublic-keys/\n",
            "/latest/meta-data/hostname": MD_HOSTNAME,
            "/latest/meta-data/instance-id": INSTANCE_ID,
            "/latest/meta-data/public-keys/": f"0={KEY_NAME}",
            "/latest/meta-data/public-keys/0/": "openssh-key",
            "/latest/meta-data/public-keys/0/openssh-key": pubkey,
        }
        requests = self.requests

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802 (http.server API)
                with lock:
                    requests.append(self.path)
                body = files.get(self.path)
                if body is None:
                    self.send_error(404)
                    return
                data = body.encode()
                self.send_response(200)
                self.send_header("Content-Type", "text/plain")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args):  # keep pytest output clean
                pass

        http.server.ThreadingHTTPServer.allow_reuse_address = True
        self.httpd = http.server.ThreadingHTTPServer((address, 80), Handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(timeout=10)


# ------------------------------------------------------------------- ping
def icmp_ping(address: str, timeout: float = 2.0, ident: int = 0x4B55, seq: int = 1) -> bool:
    """Send one ICMP echo request (raw socket, needs root); True on reply."""

    def checksum(data: bytes) -> int:
        if len(data) % 2:
            data += b"\0"
        total = sum(struct.unpack(f"!{len(data) // 2}H", data))
        total = (total >> 16) + (total & 0xFFFF)
        total += total >> 16
        return ~total & 0xFFFF

    payload = b"kumo-cirros-ping"
    header = struct.pack("!BBHHH", 8, 0, 0, ident, seq)
    packet = struct.pack("!BBHHH", 8, 0, checksum(header + payload), ident, seq) + payload
    with socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP) as sock:
        sock.settimeout(timeout)
        sock.sendto(packet, (address, 0))
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                data, peer = sock.recvfrom(2048)
            except socket.timeout:
                return False
            ihl = (data[0] & 0x0F) * 4
            icmp_type, _, _, r_ident, r_seq = struct.unpack("!BBHHH", data[ihl : ihl + 8])
            if peer[0] == address and icmp_type == 0 and r_ident == ident and r_seq == seq:
                return True
    return False


# ---------------------------------------------------------------- fixtures
@pytest.fixture(scope="module")
def guest_image() -> Path:
    """Build (or reuse, if its stamp is fresh) build/cirros.qcow2."""
    proc = subprocess.run(
        ["bash", str(BUILD_SH), str(IMAGE)],
        capture_output=True,
        text=True,
        timeout=BUILD_TIMEOUT,
    )
    assert proc.returncode == 0, f"build.sh failed:\n{proc.stdout}\n{proc.stderr}"
    assert IMAGE.is_file()
    return IMAGE


# Fixed place for dnsmasq's pid file: dnsmasq drops capabilities, which
# clears the parent-death signal, so a dnsmasq left behind by a killed run is
# found (and stopped) through this file by the next run.
DNSMASQ_PIDFILE = Path(f"/run/{BRIDGE}-dnsmasq.pid")


def _stop_stale_dnsmasq() -> None:
    try:
        pid = int(DNSMASQ_PIDFILE.read_text().split()[0])
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except (OSError, ValueError, IndexError):
        return
    if f"--interface={BRIDGE}".encode() in cmdline and b"dnsmasq" in cmdline[0]:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
    with contextlib.suppress(FileNotFoundError):
        DNSMASQ_PIDFILE.unlink()


def _teardown_links() -> None:
    for name in (TAP, BRIDGE):
        if link_exists(name):
            ip("link", "del", name, check=False)


@pytest.fixture(scope="module")
def workdir():
    path = Path(tempfile.mkdtemp(prefix="kumo-guest-test-"))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(scope="module")
def ssh_key(workdir: Path) -> Path:
    key = workdir / "id_ed25519"
    run("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "kumo-test", "-f", str(key))
    return key


@pytest.fixture(scope="module")
def testnet(workdir: Path, ssh_key: Path):
    """Bridge + tap + dnsmasq + metadata server; all torn down afterwards."""
    with contextlib.ExitStack() as cleanup:
        cleanup.enter_context(sigterm_raises())
        _stop_stale_dnsmasq()  # leftovers of an earlier, killed run
        _teardown_links()
        cleanup.callback(_teardown_links)

        ip("link", "add", BRIDGE, "type", "bridge")
        # no STP / forwarding delay: the port must forward at once
        Path(f"/sys/class/net/{BRIDGE}/bridge/stp_state").write_text("0")
        Path(f"/sys/class/net/{BRIDGE}/bridge/forward_delay").write_text("0")
        ip("addr", "add", f"{HOST_IP}/{PREFIX}", "dev", BRIDGE)
        ip("addr", "add", f"{MD_IP}/32", "dev", BRIDGE)
        ip("tuntap", "add", "dev", TAP, "mode", "tap")
        ip("link", "set", TAP, "master", BRIDGE)
        ip("link", "set", TAP, "up")
        ip("link", "set", BRIDGE, "up")

        metadata = MetadataServer(MD_IP, ssh_key.with_suffix(".pub").read_text().strip())
        cleanup.callback(metadata.close)

        leases = workdir / "dnsmasq.leases"
        dnslog = workdir / "dnsmasq.log"
        # Like Neutron's DHCP agent: a static range and a fixed MAC -> IP entry.
        dnsmasq_err = workdir / "dnsmasq.stderr"
        with dnsmasq_err.open("w") as err:
            dnsmasq = subprocess.Popen(
                [
                    *DIE_WITH_PARENT,
                    "dnsmasq",
                    "--keep-in-foreground",
                    "--conf-file=/dev/null",
                    "--no-resolv",
                    "--no-hosts",
                    "--port=0",
                    f"--interface={BRIDGE}",
                    "--bind-interfaces",
                    "--except-interface=lo",
                    "--dhcp-range=10.250.0.0,static,255.255.255.0,10m",
                    f"--dhcp-host={VM_MAC},{VM_IP}",
                    f"--dhcp-option=3,{HOST_IP}",
                    f"--dhcp-option=121,{MD_IP}/32,{HOST_IP},0.0.0.0/0,{HOST_IP}",
                    f"--dhcp-leasefile={leases}",
                    "--dhcp-authoritative",
                    "--log-dhcp",
                    f"--log-facility={dnslog}",
                    f"--pid-file={DNSMASQ_PIDFILE}",
                    "--user=root",
                ],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=err,
            )
        cleanup.callback(DNSMASQ_PIDFILE.unlink, missing_ok=True)
        cleanup.callback(stop_process, dnsmasq)
        time.sleep(0.3)
        if dnsmasq.poll() is not None:
            raise AssertionError(f"dnsmasq exited: {dnsmasq_err.read_text()}")
        yield {"leases": leases, "dnsmasq_log": dnslog, "metadata": metadata}


class Guest:
    def __init__(
        self, proc: subprocess.Popen, console: Path, qmp: Path, started: float, stderr: Path
    ):
        self.proc = proc
        self.stderr = stderr
        self.console = console
        self.qmp = qmp
        self.started = started
        self.address: str | None = None
        self.timings: dict[str, float] = {}

    def log(self) -> str:
        try:
            return self.console.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def qmp_command(self, command: str) -> None:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.settimeout(10)
            sock.connect(str(self.qmp))
            f = sock.makefile("rw")
            f.readline()  # greeting
            for cmd in ("qmp_capabilities", command):
                f.write(json.dumps({"execute": cmd}) + "\n")
                f.flush()
                while True:
                    reply = json.loads(f.readline())
                    if "return" in reply or "error" in reply:
                        break
                assert "error" not in reply, reply


@pytest.fixture(scope="module")
def guest(guest_image: Path, testnet, workdir: Path, ssh_key: Path):
    """Boot the image (through a larger qcow2 overlay, like a nova root disk)."""
    disk = workdir / "root.qcow2"
    run(
        "qemu-img", "create", "-q", "-f", "qcow2", "-F", "qcow2",
        "-b", str(guest_image), str(disk), "1G",
    )
    console = workdir / "console.log"
    qmp = workdir / "qmp.sock"
    cmd = [
        "qemu-system-x86_64",
        "-accel", "tcg",
        "-machine", "pc",
        "-m", "128",
        "-smp", "1",
        "-display", "none",
        "-vga", "std",
        "-monitor", "none",
        "-qmp", f"unix:{qmp},server=on,wait=off",
        "-serial", f"file:{console}",
        "-drive", f"file={disk},if=virtio,format=qcow2,cache=unsafe",
        "-netdev", f"tap,id=net0,ifname={TAP},script=no,downscript=no",
        "-device", f"virtio-net-pci,netdev=net0,mac={VM_MAC}",
        "-pidfile", str(workdir / "qemu.pid"),
    ]
    stderr = workdir / "qemu.stderr"
    started = time.monotonic()
    with stderr.open("w") as err:
        proc = subprocess.Popen(
            [*DIE_WITH_PARENT, *cmd], stdin=subprocess.DEVNULL, stdout=err, stderr=err
        )
    g = Guest(proc, console, qmp, started, stderr)
    try:
        yield g
    finally:
        stop_process(proc)
        keep = os.environ.get("KUMO_KEEP_CONSOLE")  # path to save the console log to
        if keep:
            with contextlib.suppress(OSError):
                shutil.copy(console, keep)
        timings = ", ".join(f"{k} {v:.1f}s" for k, v in g.timings.items())
        print(f"\nguest timings after qemu start: {timings or 'n/a'}")


def ssh_cmd(key: Path, address: str, *command: str) -> list[str]:
    return [
        "ssh",
        "-i", str(key),
        "-o", "StrictHostKeyChecking=no",
        "-o", "UserKnownHostsFile=/dev/null",
        "-o", "BatchMode=yes",
        "-o", "ConnectTimeout=5",
        "-o", "LogLevel=ERROR",
        f"cirros@{address}",
        *command,
    ]


# ------------------------------------------------------------------- tests
def test_console_shows_boot_lines(guest: Guest):
    def sshd_ready():
        if guest.proc.poll() is not None:
            raise AssertionError(
                f"qemu exited ({guest.proc.returncode}): {guest.stderr.read_text()}\n"
                f"console:\n{guest.log()}"
            )
        return "kumo-cirros: sshd ready" in guest.log()

    try:
        wait_for(sshd_ready, BOOT_TIMEOUT, what="'sshd ready' on the serial console")
    except AssertionError as exc:
        raise AssertionError(f"{exc}\nconsole so far:\n{guest.log()}") from None
    guest.timings["sshd-ready-on-console"] = time.monotonic() - guest.started
    log = guest.log()
    missing = [p.pattern for p in BOOT_LINES if not p.search(log)]
    assert not missing, f"boot lines missing: {missing}\nconsole:\n{log}"
    guest.address = BOOT_LINES[2].search(log).group(1)


def test_guest_got_dhcp_lease(guest: Guest, testnet):
    assert guest.address, "no address on the console"
    assert guest.address == VM_IP

    def lease_line():
        leases = testnet["leases"]
        if not leases.exists():
            return None
        for line in leases.read_text().splitlines():
            fields = line.split()
            if len(fields) >= 3 and fields[1].lower() == VM_MAC:
                return fields
        return None

    fields = wait_for(lease_line, 10, what="the VM's lease in dnsmasq's lease file")
    assert fields[2] == guest.address, fields
    # the guest applied the classless static route option
    assert "static routes: 169.254.169.254/32 10.250.0.1" in guest.log()


def test_metadata_was_read(guest: Guest, testnet):
    requests = testnet["metadata"].requests
    assert "/latest/meta-data/hostname" in requests
    assert "/latest/meta-data/public-keys/" in requests
    assert "/latest/meta-data/public-keys/0/openssh-key" in requests


def test_ssh_hostname_from_metadata(guest: Guest, ssh_key: Path):
    assert guest.address, "no address on the console"
    last = None

    def try_ssh():
        nonlocal last
        try:
            last = subprocess.run(
                ssh_cmd(ssh_key, guest.address, "hostname"),
                capture_output=True, text=True, timeout=30, stdin=subprocess.DEVNULL,
            )
        except subprocess.TimeoutExpired as exc:
            last = exc
            return None
        return last.returncode == 0 and last

    try:
        result = wait_for(try_ssh, BOOT_TIMEOUT, interval=1, what="ssh cirros@guest")
    except AssertionError as exc:
        raise AssertionError(f"{exc}; last attempt: {last!r}\nconsole:\n{guest.log()}") from None
    guest.timings["ssh-hostname-ok"] = time.monotonic() - guest.started
    assert result.stdout.strip() == SHORT_HOSTNAME

    # the account and the key file look right from inside, too; sudo and
    # ping (the guest's own) work for user cirros
    out = run(
        *ssh_cmd(
            ssh_key, guest.address,
            "id -u; stat -c '%a %u' ~/.ssh ~/.ssh/authorized_keys; cat /etc/hostname;"
            f" sudo id -u; ping -c 1 -W 5 {HOST_IP} >/dev/null && echo ping-ok",
        ),
        timeout=60,
    ).stdout.split()
    assert out == [
        "1000", "700", "1000", "600", "1000", SHORT_HOSTNAME, "0", "ping-ok"
    ], out


def test_guest_answers_ping(guest: Guest):
    assert guest.address, "no address on the console"
    assert any(icmp_ping(guest.address, seq=i) for i in range(1, 6)), "no ICMP echo reply"


def test_acpi_power_button_powers_off(guest: Guest):
    """Last test: the power button (virsh shutdown) makes the guest power off."""
    assert guest.proc.poll() is None, "qemu is not running"
    guest.qmp_command("system_powerdown")
    try:
        guest.proc.wait(timeout=BOOT_TIMEOUT)
    except subprocess.TimeoutExpired:
        raise AssertionError(f"guest did not power off\nconsole:\n{guest.log()}") from None
    assert "ACPI power button pressed" in guest.log()
