"""virt_type selection (the install guide's rule) and VIF name checks."""
from __future__ import annotations

import pytest

from kumo.compute.virt.base import VirtError
from kumo.compute.virt.libvirt import host, vif

INTEL = "processor\t: 0\nflags\t\t: fpu vme de pse tsc msr pae mce cx8 apic vmx sse2\n"
AMD = "processor\t: 0\nflags\t\t: fpu vme svm sse2 lm\n"
NONE = "processor\t: 0\nmodel name\t: vmx-lookalike CPU\nflags\t\t: fpu vme de pse tsc sse2 hypervisor\n"


@pytest.fixture
def cpuinfo(tmp_path):
    def make(text):
        path = tmp_path / "cpuinfo"
        path.write_text(text)
        return str(path)
    return make


@pytest.fixture
def kvm_dev(tmp_path):
    path = tmp_path / "kvm"
    path.write_bytes(b"")
    return str(path)


def yes():
    return True


def test_auto_picks_kvm_when_all_three_agree(cpuinfo, kvm_dev):
    assert host.choose_virt_type("auto", yes, cpuinfo(INTEL), kvm_dev) == "kvm"
    assert host.choose_virt_type("auto", yes, cpuinfo(AMD), kvm_dev) == "kvm"


def test_auto_without_cpu_flags_is_qemu_even_with_dev_kvm(cpuinfo, kvm_dev):
    # /dev/kvm present and libvirt willing, but the CPU has no vmx/svm (this host)
    calls = []
    assert host.choose_virt_type("auto", lambda: calls.append(1) or True, cpuinfo(NONE), kvm_dev) == "qemu"
    assert calls == []  # libvirt is not even asked


def test_auto_without_device_is_qemu(cpuinfo, tmp_path):
    assert host.choose_virt_type("auto", yes, cpuinfo(INTEL), str(tmp_path / "missing")) == "qemu"


def test_auto_when_libvirt_refuses_kvm_is_qemu(cpuinfo, kvm_dev):
    def refuse():
        raise RuntimeError("virConnectGetDomainCapabilities: unsupported virt type kvm")
    assert host.choose_virt_type("auto", refuse, cpuinfo(INTEL), kvm_dev) == "qemu"
    assert host.choose_virt_type("auto", lambda: False, cpuinfo(INTEL), kvm_dev) == "qemu"


def test_unreadable_cpuinfo_is_no_virtualization(tmp_path):
    assert host.cpu_has_virtualization(str(tmp_path / "nope")) is False


def test_explicit_settings_are_kept_and_bad_ones_refused(cpuinfo, kvm_dev):
    assert host.choose_virt_type("qemu", yes, cpuinfo(INTEL), kvm_dev) == "qemu"
    assert host.choose_virt_type("kvm", yes, cpuinfo(NONE), kvm_dev) == "kvm"
    with pytest.raises(ValueError):
        host.choose_virt_type("xen", yes, cpuinfo(INTEL), kvm_dev)


def test_this_host_is_tcg():
    # No vmx/svm in this machine's /proc/cpuinfo (DEVELOPERS.md): auto must pick qemu.
    if host.cpu_has_virtualization():
        pytest.fail("this test documents the CI host, which has no hardware virtualization")
    assert host.choose_virt_type("auto", yes) == "qemu"


def test_socket_alive_false_for_missing_socket(tmp_path):
    assert host.socket_alive(str(tmp_path / "sock")) is False


@pytest.mark.parametrize("name,ok", [("brq1234567890a", True), ("br-ex", True), ("tap0123456789a", True),
                                     ("", False), ("a" * 16, False), ("br ex", False), ("br;rm", False),
                                     ("../x", False)])
def test_ifname_validation(name, ok):
    assert vif.valid_ifname(name) is ok


async def test_plug_refuses_bad_names_before_touching_the_host():
    with pytest.raises(VirtError):
        await vif.plug({"bridge": "br;reboot", "devname": "tap1"})
    with pytest.raises(VirtError):
        await vif.plug({"bridge": "brq1", "devname": "tap with space"})
