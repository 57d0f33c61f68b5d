"""Hypervisor drivers of the compute agent.

``load_driver(settings)`` returns the driver named by ``[compute] driver``:
``libvirt`` (:class:`kumo.compute.virt.libvirt.driver.LibvirtDriver`) or
``fake`` (:class:`kumo.compute.virt.fake.FakeDriver`, tests). Raises
ValueError for another name.
"""
from __future__ import annotations

from kumo.compute.virt.base import ComputeDriver


def load_driver(settings) -> ComputeDriver:
    name = settings.compute.driver
    if name == "fake":
        from kumo.compute.virt.fake import FakeDriver

        return FakeDriver()
    if name == "libvirt":
        from kumo.compute.virt.libvirt.driver import LibvirtDriver

        return LibvirtDriver(settings.compute.libvirt_uri, settings.compute.virt_type,
                             settings.instances_dir, settings.vnc.server_listen)
    raise ValueError(f"[compute] driver must be libvirt or fake, not {name!r}")
