"""kumo's boot benchmarks (issue 2): run as root on a machine with `make up` done.

Measures, and writes to bench/results/boot.json:
- ``up_warm_s``: seconds for ``kumo up`` on a running cloud (the warm path);
- ``rss_mb``: resident memory of the control plane (the supervisor process; guests excluded);
- ``active_s`` and ``ssh_s``: seconds from ``POST /servers`` to ACTIVE and to a working ssh
  ``hostname``, median of ``--runs`` boots (default 5) of m1.nano from image ``cirros``.

Usage: ``python -m bench.run [--runs N]``. Targets from the issue: warm up <= 30 s,
RSS <= 300 MB, ACTIVE <= 3 s, ssh-ready <= 15 s.
"""
from __future__ import annotations

import argparse
import json
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

from kumo import config
from kumo.cli import daemon, demo

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"


def rss_mb(pid: int) -> float:
    """VmRSS of ``pid`` in MB (MiB)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def time_up() -> float:
    start = time.monotonic()
    subprocess.run([sys.executable, "-m", "kumo.cli.main", "up", "--image", str(ROOT / "build/cirros.qcow2")],
                   check=True, capture_output=True)
    return time.monotonic() - start


def ssh_ok(key: str, ip: str, user: str = "cirros") -> bool:
    proc = subprocess.run(["ssh", "-i", key, "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
                           "-o", "ConnectTimeout=2", "-o", "BatchMode=yes", f"{user}@{ip}", "hostname"],
                          capture_output=True, text=True, timeout=20)
    return proc.returncode == 0


def boot_once(c: demo.AdminClient, net_id: str, image_id: str, key: str, name: str, flavor: str = "42",
              user: str = "cirros") -> tuple[float, float]:
    """Seconds from ``POST /servers`` to ACTIVE and to ``ssh user@ip hostname`` working (5 min
    bound each); the server is deleted after."""
    body = {"server": {"name": name, "imageRef": image_id, "flavorRef": flavor, "key_name": "bench-key",
                       "networks": [{"uuid": net_id}]}}
    t0 = time.monotonic()
    sid = c.call("compute", "POST", "/servers", json=body)["server"]["id"]
    try:
        active = None
        ip = None
        while time.monotonic() - t0 < 300:
            s = c.call("compute", "GET", f"/servers/{sid}")["server"]
            if s["status"] == "ERROR":
                raise RuntimeError(f"boot failed: {s.get('fault')}")
            if s["status"] == "ACTIVE":
                active = time.monotonic() - t0
                ip = re.search(r"172\.24\.4\.\d+", json.dumps(s["addresses"])).group(0)
                break
            time.sleep(0.1)
        while time.monotonic() - t0 < 300:
            if ssh_ok(key, ip, user):
                return active, time.monotonic() - t0
            time.sleep(0.5)
        raise RuntimeError("ssh never answered")
    finally:
        c.call("compute", "DELETE", f"/servers/{sid}")
        while time.monotonic() - t0 < 600:
            try:
                c.call("compute", "GET", f"/servers/{sid}")
            except demo.DemoError:
                break
            time.sleep(0.5)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    settings = config.load()
    result: dict = {"date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    result["up_warm_s"] = round(time_up(), 2)
    pid = daemon.running_pid(settings)
    result["rss_mb"] = round(rss_mb(pid), 1)
    passwords = json.loads(settings.path("passwords.json").read_text())
    c = demo.AdminClient(settings, passwords["admin"])
    with tempfile.TemporaryDirectory() as tmp:
        key = f"{tmp}/id"
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", key], check=True)
        try:
            c.call("compute", "DELETE", "/os-keypairs/bench-key")
        except demo.DemoError:
            pass
        c.call("compute", "POST", "/os-keypairs", json={"keypair": {
            "name": "bench-key", "public_key": Path(key + ".pub").read_text()}})
        net = c.find("network", "/v2.0/networks", "networks", "public")
        image = c.find("image", "/v2/images", "images", "cirros")
        runs = [boot_once(c, net["id"], image["id"], key, f"bench-{i}") for i in range(args.runs)]
        c.call("compute", "DELETE", "/os-keypairs/bench-key")
    result["active_s"] = round(statistics.median(r[0] for r in runs), 2)
    result["ssh_s"] = round(statistics.median(r[1] for r in runs), 2)
    result["runs"] = [[round(a, 2), round(s, 2)] for a, s in runs]
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "boot.json").write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
