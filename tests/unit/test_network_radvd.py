"""radvd.conf of a router (pure rendering): one block per qr- device, flags by ipv6_ra_mode."""
from __future__ import annotations

from kumo.network.agents import radvd
from kumo.network.agents.radvd import Prefix


def _block(text: str, dev: str) -> list[str]:
    lines = [x.strip() for x in text.splitlines()]
    start = lines.index(f"interface {dev}")
    return lines[start:lines.index("};", start) + 1]


def test_flags_follow_the_ra_mode():
    text = radvd.config([Prefix("qr-a", "2001:db8:1::/64", "slaac"),
                         Prefix("qr-b", "2001:db8:2::/64", "dhcpv6-stateless"),
                         Prefix("qr-c", "2001:db8:3::/64", "dhcpv6-stateful")], {"qr-a": 1450})
    a, b, c = (_block(text, d) for d in ("qr-a", "qr-b", "qr-c"))
    assert "AdvManagedFlag off;" in a and "AdvOtherConfigFlag off;" in a and "AdvAutonomous on;" in a
    assert "AdvManagedFlag off;" in b and "AdvOtherConfigFlag on;" in b and "AdvAutonomous on;" in b
    assert "AdvManagedFlag on;" in c and "AdvOtherConfigFlag on;" in c and "AdvAutonomous off;" in c
    assert "AdvLinkMTU 1450;" in a and not [x for x in b + c if x.startswith("AdvLinkMTU")]
    assert "prefix 2001:db8:1::/64" in a and "AdvSendAdvert on;" in a


def test_two_prefixes_on_one_device_share_a_block_and_nothing_renders_empty():
    text = radvd.config([Prefix("qr-a", "2001:db8:2::/64", "slaac"),
                         Prefix("qr-a", "2001:db8:1::/64", "dhcpv6-stateless")])
    assert text.count("interface qr-a") == 1
    assert text.index("2001:db8:1::/64") < text.index("2001:db8:2::/64")
    assert "AdvOtherConfigFlag on;" in text
    assert radvd.config([]) == ""


def test_no_router_has_files_in_an_empty_root(tmp_path):
    assert radvd.routers(tmp_path / "missing") == set()
    (tmp_path / "r1.conf").write_text("x")
    (tmp_path / "r1.pid").write_text("999999999")
    assert radvd.routers(tmp_path) == {"r1"}
    assert radvd.pid_of(tmp_path, "r1") is None  # a stale pid file is not a running radvd
