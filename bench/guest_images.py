"""Boot times of the two guest images (issue 5): the tiny ``cirros`` and ``debian`` with cloud-init.

Run as root on a machine with a running cloud (``make up``; ``make image-debian`` for image
``debian``). For each image, ``--runs`` boots (default 5, one after the other) on network
``public``: seconds from ``POST /servers`` to ACTIVE and to a working ``ssh USER@ip hostname``
(the key comes from the metadata service, so for Debian that is cloud-init's init stage done),
each bounded at 5 minutes (:func:`bench.run.boot_once`). Medians and all runs go to
``bench/results/guest_images.json``, with the load average before and after.

Usage: ``python -m bench.guest_images [--runs N] [--images cirros,debian]``.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.run import RESULTS, boot_once
from kumo import config
from kumo.cli import demo

#: image name -> (flavor id, ssh user)
IMAGES = {"cirros": ("42", "cirros"), "debian": ("1", "debian")}


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--images", default="cirros,debian")
    args = parser.parse_args()
    if not 1 <= args.runs <= 20:
        parser.error("--runs must be 1..20")
    names = [n for n in args.images.split(",") if n]
    unknown = [n for n in names if n not in IMAGES]
    if unknown:
        parser.error(f"unknown image(s): {', '.join(unknown)} (known: {', '.join(IMAGES)})")
    settings = config.load()
    passwords = json.loads(settings.path("passwords.json").read_text())
    c = demo.AdminClient(settings, passwords["admin"])
    result: dict = {"date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                    "load_before": os.getloadavg()[0], "images": {}}
    net = c.find("network", "/v2.0/networks", "networks", "public")
    with tempfile.TemporaryDirectory() as tmp:
        key = f"{tmp}/id"
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", key], check=True)
        try:
            c.call("compute", "DELETE", "/os-keypairs/bench-key")
        except demo.DemoError:
            pass
        c.call("compute", "POST", "/os-keypairs", json={"keypair": {
            "name": "bench-key", "public_key": Path(key + ".pub").read_text()}})
        try:
            for name in names:
                image = c.find("image", "/v2/images", "images", name)
                if image is None:
                    print(f"image {name} not found: skipped", file=sys.stderr)
                    continue
                flavor, user = IMAGES[name]
                runs = []
                for i in range(args.runs):
                    runs.append(boot_once(c, net["id"], image["id"], key, f"bench-{name}-{i}", flavor, user))
                    print(f"{name} run {i + 1}: ACTIVE {runs[-1][0]:.1f} s, ssh {runs[-1][1]:.1f} s", flush=True)
                result["images"][name] = {
                    "flavor": flavor, "active_s": round(statistics.median(r[0] for r in runs), 2),
                    "ssh_s": round(statistics.median(r[1] for r in runs), 2),
                    "runs": [[round(a, 2), round(s, 2)] for a, s in runs]}
        finally:
            c.call("compute", "DELETE", "/os-keypairs/bench-key")
    result["load_after"] = os.getloadavg()[0]
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "guest_images.json").write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
