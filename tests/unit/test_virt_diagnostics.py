"""kumo.compute.virt.diagnostics: the 2.48 body and the figures read from a libvirt domain."""
from __future__ import annotations

from tempest.lib.api_schema.response.compute.v2_48 import servers as s248
from tempest.lib.common.jsonschema_validator import FORMAT_CHECKER, JSONSCHEMA_VALIDATOR

from kumo.compute.virt import base, diagnostics

INSTANCE = {"uuid": "u1", "flavor": {"vcpus": 2, "ram": 512}, "config_drive": True,
            "network_info": [{"mac_address": "fa:16:3e:00:00:01"}]}

XML = """<domain><devices>
  <disk type='file' device='disk'><target dev='vda'/></disk>
  <disk type='file' device='cdrom'><target dev='hdd'/></disk>
  <interface type='bridge'><mac address='fa:16:3e:00:00:01'/><target dev='tapabc'/></interface>
</devices></domain>"""


class FakeDomain:
    def vcpus(self):
        return [(0, 1, 1500, 0), (1, 1, 2500, 1)], []

    def memoryStats(self):
        return {"actual": 524288, "rss": 204800}

    def XMLDesc(self, flags):
        return XML

    def interfaceStats(self, dev):
        assert dev == "tapabc"
        return (100, 2, 0, 1, 200, 3, 0, 0)

    def blockStats(self, dev):
        assert dev == "vda"
        return (5, 4096, 6, 8192, -1)


def check(body: dict) -> None:
    JSONSCHEMA_VALIDATOR(s248.show_server_diagnostics["response_body"],
                         format_checker=FORMAT_CHECKER).validate(body)


def test_defaults_know_the_flavor_and_interfaces():
    body = diagnostics.build(INSTANCE, base.SHUTDOWN)
    check(body)
    assert (body["state"], body["num_cpus"], body["num_nics"], body["num_disks"]) == ("shutdown", 2, 1, 1)
    assert body["memory_details"] == {"maximum": 512, "used": None}
    assert body["config_drive"] is True
    assert body["nic_details"][0]["mac_address"] == "fa:16:3e:00:00:01"
    assert body["nic_details"][0]["rx_octets"] is None


def test_figures_from_a_libvirt_domain():
    figures = diagnostics.from_domain(FakeDomain())
    body = diagnostics.build(INSTANCE, base.RUNNING, **figures)
    check(body)
    assert [c["time"] for c in body["cpu_details"]] == [1500, 2500]
    assert body["memory_details"] == {"maximum": 512, "used": 200}
    assert body["num_disks"] == 1  # the cdrom is not a disk
    assert body["disk_details"][0] == {"read_bytes": 4096, "read_requests": 5, "write_bytes": 8192,
                                       "write_requests": 6, "errors_count": None}
    nic = body["nic_details"][0]
    assert (nic["rx_octets"], nic["rx_packets"], nic["rx_drop"], nic["tx_octets"], nic["tx_packets"]) == \
        (100, 2, 1, 200, 3)


def test_a_stopped_domain_without_stats():
    class Stopped(FakeDomain):
        def vcpus(self):
            raise RuntimeError("domain is not running")

        def memoryStats(self):
            raise RuntimeError("domain is not running")

        def interfaceStats(self, dev):
            raise RuntimeError("domain is not running")

    body = diagnostics.build(INSTANCE, base.SHUTDOWN, **diagnostics.from_domain(Stopped()))
    check(body)
    assert body["num_cpus"] == 2 and body["memory_details"]["used"] is None
    assert body["nic_details"][0]["tx_octets"] is None
