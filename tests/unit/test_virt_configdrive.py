"""The config drive ISO, read back with isoinfo (Rock Ridge names)."""
from __future__ import annotations

import base64
import json
import subprocess

import pytest

from kumo.compute.virt.base import InstancePaths, VirtError
from kumo.compute.virt.configdrive import make_config_drive, meta_data, network_data

VIF = {"port_id": "0123456789abcdef", "network_id": "net1", "network_name": "private",
       "mac_address": "fa:16:3e:11:22:33", "vif_type": "bridge", "bridge": "brqnet1",
       "devname": "tap0123456789a", "created_port": True, "mtu": 1450,
       "fixed_ips": [{"ip_address": "10.0.0.5", "subnet_id": "s1", "version": 4}]}


def instance(**over):
    inst = {"uuid": "6f2d7c1e-3f0a-4b8e-9d55-0a1b2c3d4e5f", "id": 42, "display_name": "web 1",
            "hostname": "web-1", "project_id": "p1", "availability_zone": None, "metadata": {"role": "web"},
            "key_name": "k1", "key_data": "ssh-ed25519 AAAAC3Nz test@kumo",
            "user_data": base64.b64encode(b"#!/bin/sh\necho hi\n").decode(), "config_drive": True}
    inst.update(over)
    return inst


def iso_read(path, name) -> bytes:
    return subprocess.run(["isoinfo", "-R", "-i", str(path), "-x", name], check=True,
                          capture_output=True).stdout


def test_meta_data_fields():
    meta = meta_data(instance())
    assert meta["uuid"] == "6f2d7c1e-3f0a-4b8e-9d55-0a1b2c3d4e5f"
    assert (meta["name"], meta["hostname"], meta["availability_zone"]) == ("web 1", "web-1", "nova")
    assert meta["public_keys"] == {"k1": "ssh-ed25519 AAAAC3Nz test@kumo"}
    assert meta["keys"] == [{"name": "k1", "type": "ssh", "data": "ssh-ed25519 AAAAC3Nz test@kumo"}]
    assert meta["meta"] == {"role": "web"}
    assert meta_data(instance(key_name=None, key_data=None))["keys"] == []


def test_network_data():
    net = network_data([VIF])
    assert net["links"] == [{"id": "tap0123456789a", "vif_id": "0123456789abcdef", "type": "bridge",
                             "mtu": 1450, "ethernet_mac_address": "fa:16:3e:11:22:33"}]
    assert net["networks"] == [{"id": "network0", "link": "tap0123456789a", "type": "ipv4_dhcp",
                                "network_id": "net1"}]


async def test_iso_contents(tmp_path):
    paths = InstancePaths(tmp_path, "vm1")
    paths.dir.mkdir()
    iso = await make_config_drive(paths, instance(), [VIF])
    assert iso == paths.dir / "disk.config"
    info = subprocess.run(["isoinfo", "-d", "-i", str(iso)], check=True, capture_output=True, text=True)
    assert "Volume id: config-2" in info.stdout
    meta = json.loads(iso_read(iso, "/openstack/latest/meta_data.json"))
    assert meta["uuid"] == instance()["uuid"] and meta["hostname"] == "web-1"
    assert json.loads(iso_read(iso, "/openstack/2012-08-10/meta_data.json"))["name"] == "web 1"
    assert iso_read(iso, "/openstack/latest/user_data") == b"#!/bin/sh\necho hi\n"
    assert json.loads(iso_read(iso, "/openstack/latest/network_data.json"))["links"][0]["vif_id"] == \
        "0123456789abcdef"
    ec2 = json.loads(iso_read(iso, "/ec2/latest/meta-data.json"))
    assert ec2["instance-id"] == "i-0000002a" and ec2["local-ipv4"] == "10.0.0.5"
    # only the ISO is left in the instance directory
    assert [p.name for p in paths.dir.iterdir()] == ["disk.config"]


async def test_bad_user_data_makes_nothing(tmp_path):
    paths = InstancePaths(tmp_path, "vm2")
    paths.dir.mkdir()
    with pytest.raises(VirtError, match="base64"):
        await make_config_drive(paths, instance(user_data="!!not base64!!"), [])
    assert list(paths.dir.iterdir()) == []


STATIC_SUBNET = {"cidr": "192.168.7.0/24", "gateway_ip": "192.168.7.1", "enable_dhcp": False,
                 "dns_nameservers": ["192.168.7.2"], "ipv6_address_mode": None,
                 "host_routes": [{"destination": "10.9.0.0/16", "nexthop": "192.168.7.254"}]}


def test_network_data_static_without_dhcp():
    """A subnet without DHCP becomes a static ``ipv4`` entry cloud-init can apply on its own."""
    vif = dict(VIF, mtu=None, fixed_ips=[
        {"ip_address": "192.168.7.20", "subnet_id": "s2", "version": 4, "subnet": STATIC_SUBNET},
        {"ip_address": "10.0.0.5", "subnet_id": "s1", "version": 4,
         "subnet": dict(STATIC_SUBNET, cidr="10.0.0.0/24", enable_dhcp=True)}])
    net = network_data([vif])
    assert "mtu" not in net["links"][0]
    static, dhcp = net["networks"]
    assert static == {"id": "network0", "link": "tap0123456789a", "type": "ipv4", "network_id": "net1",
                      "ip_address": "192.168.7.20", "netmask": "255.255.255.0",
                      "routes": [{"network": "0.0.0.0", "netmask": "0.0.0.0", "gateway": "192.168.7.1"},
                                 {"network": "10.9.0.0", "netmask": "255.255.0.0",
                                  "gateway": "192.168.7.254"}],
                      "services": [{"type": "dns", "address": "192.168.7.2"}]}
    assert dhcp["type"] == "ipv4_dhcp" and "ip_address" not in dhcp
    assert net["services"] == [{"type": "dns", "address": "192.168.7.2"}]


def test_network_data_ipv6_modes():
    v6 = {"cidr": "2001:db8::/64", "gateway_ip": None, "enable_dhcp": True, "dns_nameservers": [],
          "host_routes": []}
    ips = [{"ip_address": "2001:db8::5", "version": 6, "subnet": dict(v6, ipv6_address_mode="slaac")},
           {"ip_address": "2001:db8::6", "version": 6,
            "subnet": dict(v6, ipv6_address_mode="dhcpv6-stateful")},
           {"ip_address": "2001:db8::7", "version": 6, "subnet": dict(v6, ipv6_address_mode=None)},
           {"ip_address": "2001:db8::8", "version": 6}]
    types = [n["type"] for n in network_data([dict(VIF, fixed_ips=ips)])["networks"]]
    assert types == ["ipv6_slaac", "ipv6_dhcpv6-stateful", "ipv6", "ipv6_dhcp"]
    static = network_data([dict(VIF, fixed_ips=[ips[2]])])["networks"][0]
    assert static["netmask"] == "ffff:ffff:ffff:ffff::" and static["routes"] == []


async def test_iso_matches_cloud_init_layout(tmp_path):
    """Per-version files as the metadata service lists them; ec2 meta-data.json is the EC2 tree."""
    paths = InstancePaths(tmp_path, "vm3")
    paths.dir.mkdir()
    iso = await make_config_drive(paths, instance(user_data=None), [VIF])
    listing = subprocess.run(["isoinfo", "-R", "-f", "-i", str(iso)], check=True, capture_output=True,
                             text=True).stdout.split()
    assert "/openstack/2012-08-10/meta_data.json" in listing
    assert "/openstack/2012-08-10/network_data.json" not in listing
    assert "/openstack/latest/vendor_data2.json" in listing and "/openstack/latest/user_data" not in listing
    assert not any(name.endswith("/password") for name in listing)
    old = json.loads(iso_read(iso, "/openstack/2012-08-10/meta_data.json"))
    assert "random_seed" not in old and "keys" not in old
    ec2 = json.loads(iso_read(iso, "/ec2/latest/meta-data.json"))
    assert ec2["public-keys"] == {"0": {"openssh-key": "ssh-ed25519 AAAAC3Nz test@kumo"}}
    assert ec2["hostname"] == "web-1" and ec2["local-hostname"] == "web-1.novalocal"
