"""The libvirt daemons of this host and the choice of domain type.

- :func:`ensure_libvirtd` starts ``virtlogd`` and ``libvirtd`` on a host
  without systemd (what ``kumo up`` and the integration tests call).
- :func:`choose_virt_type` applies the install guide's rule for
  ``[compute] virt_type = auto``: ``kvm`` only when the CPU has hardware
  virtualization (``vmx``/``svm`` in /proc/cpuinfo), /dev/kvm opens and
  libvirt's domain capabilities offer kvm; otherwise ``qemu`` (TCG).
"""
from __future__ import annotations

import grp
import logging
import os
import pwd
import re
import socket
import subprocess
import time
from collections.abc import Callable

log = logging.getLogger(__name__)

RUN_DIR = "/run/libvirt"
LIBVIRT_SOCK = f"{RUN_DIR}/libvirt-sock"
VIRTLOGD_SOCK = f"{RUN_DIR}/virtlogd-sock"
QEMU_USER, QEMU_GROUP = "libvirt-qemu", "kvm"


class LibvirtUnavailable(RuntimeError):
    """libvirtd is not running and could not be started."""


def socket_alive(path: str) -> bool:
    """True if something accepts connections on the unix socket ``path``."""
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(2)
    try:
        s.connect(path)
        return True
    except OSError:
        return False
    finally:
        s.close()


def _ensure_qemu_user() -> None:
    try:
        grp.getgrnam(QEMU_GROUP)
    except KeyError:
        subprocess.run(["groupadd", "-r", QEMU_GROUP], check=True)
    try:
        pwd.getpwnam(QEMU_USER)
    except KeyError:
        subprocess.run(["useradd", "-r", "-g", QEMU_GROUP, "-d", "/var/lib/libvirt",
                        "-s", "/usr/sbin/nologin", "-c", "Libvirt Qemu", QEMU_USER], check=True)


def _kvm_device_for_qemu_group(path: str = "/dev/kvm") -> None:
    """Give /dev/kvm the group ``kvm`` and mode 0660, as udev's default rules do.

    Without udev the node stays 0600 root: libvirt then finds its cached QEMU
    capabilities (probed with KVM) at odds with a KVM the qemu user cannot
    open, and probes QEMU again on every define (about 30 s each under TCG).
    """
    try:
        st = os.stat(path)
        gid = grp.getgrnam(QEMU_GROUP).gr_gid
    except (OSError, KeyError):
        return
    if st.st_gid != gid:
        os.chown(path, -1, gid)
    if st.st_mode & 0o660 != 0o660:
        os.chmod(path, (st.st_mode | 0o660) & 0o7777)


def _wait_for(path: str, deadline: float, what: str) -> None:
    while not socket_alive(path):
        if time.monotonic() > deadline:
            raise LibvirtUnavailable(f"{what} did not open {path}")
        time.sleep(0.1)


def ensure_libvirtd(timeout: float = 30.0) -> None:
    """Make sure virtlogd and libvirtd run and answer on their sockets (blocking).

    Creates the ``libvirt-qemu`` user (group ``kvm``) and /var/log/libvirt
    when missing, gives /dev/kvm to group kvm (mode 0660) as udev would,
    starts ``virtlogd -d`` then ``libvirtd -d`` when their sockets do not
    answer, and waits up to ``timeout`` seconds for them.
    Raises LibvirtUnavailable (not root, a daemon failed to start, or timeout).
    Call it from async code with ``await asyncio.to_thread(ensure_libvirtd)``.
    """
    if os.geteuid() == 0:
        try:
            _ensure_qemu_user()
            _kvm_device_for_qemu_group()
        except (OSError, subprocess.SubprocessError) as e:
            raise LibvirtUnavailable(f"cannot prepare the qemu user: {e}") from e
    if socket_alive(VIRTLOGD_SOCK) and socket_alive(LIBVIRT_SOCK):
        return
    if os.geteuid() != 0:
        raise LibvirtUnavailable("libvirtd is not running and starting it needs root")
    deadline = time.monotonic() + timeout
    try:
        os.makedirs("/var/log/libvirt/qemu", exist_ok=True)
        os.makedirs(RUN_DIR, exist_ok=True)
        if not socket_alive(VIRTLOGD_SOCK):
            log.info("starting virtlogd")
            subprocess.run(["virtlogd", "-d"], check=True, capture_output=True, timeout=timeout)
            _wait_for(VIRTLOGD_SOCK, deadline, "virtlogd")
        if not socket_alive(LIBVIRT_SOCK):
            log.info("starting libvirtd")
            subprocess.run(["libvirtd", "-d"], check=True, capture_output=True, timeout=timeout)
            _wait_for(LIBVIRT_SOCK, deadline, "libvirtd")
    except (OSError, subprocess.SubprocessError) as e:
        detail = getattr(e, "stderr", b"") or b""
        raise LibvirtUnavailable(f"cannot start libvirt: {e} {detail.decode(errors='replace')}") from e


def cpu_has_virtualization(cpuinfo: str = "/proc/cpuinfo") -> bool:
    """True if a ``flags`` line of ``cpuinfo`` lists ``vmx`` (Intel VT-x) or ``svm`` (AMD-V)."""
    try:
        with open(cpuinfo) as f:
            text = f.read()
    except OSError:
        return False
    return any(re.search(r"\b(vmx|svm)\b", line.split(":", 1)[-1])
               for line in text.splitlines() if line.startswith("flags"))


def kvm_device_usable(path: str = "/dev/kvm") -> bool:
    """True if ``path`` opens read-write."""
    try:
        fd = os.open(path, os.O_RDWR | os.O_CLOEXEC)
    except OSError:
        return False
    os.close(fd)
    return True


def choose_virt_type(setting: str, domcaps_has_kvm: Callable[[], bool],
                     cpuinfo: str = "/proc/cpuinfo", kvm_dev: str = "/dev/kvm") -> str:
    """The domain type to use: ``kvm`` or ``qemu``.

    ``setting`` is ``[compute] virt_type``: ``kvm``/``qemu`` are taken as
    given; ``auto`` picks kvm only if the CPU flags, the device and
    ``domcaps_has_kvm()`` (libvirt's domain capabilities, called last) all
    agree. Raises ValueError for another setting.
    """
    setting = (setting or "auto").lower()
    if setting in ("kvm", "qemu"):
        return setting
    if setting != "auto":
        raise ValueError(f"[compute] virt_type must be auto, kvm or qemu, not {setting!r}")
    if not cpu_has_virtualization(cpuinfo):
        return "qemu"
    if not kvm_device_usable(kvm_dev):
        return "qemu"
    try:
        return "kvm" if domcaps_has_kvm() else "qemu"
    except Exception:  # libvirt refuses kvm capabilities: no kvm
        return "qemu"
