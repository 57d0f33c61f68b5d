"""Compute benchmark (issue 5 "Benchmark"): scheduling at scale, the server list, concurrent boots.

Three measures, each bounded in count and time:

1. ``sched`` (in-process, no cloud needed): a throw-away compute database (SQLite in a temporary
   directory) with ``--hosts`` (1000) fake compute nodes, each with an up ``nova-compute``
   service, and ``--placed`` (2000) servers already on them; then ``--decisions`` (200) servers
   are scheduled one after the other with the real :class:`~kumo.compute.scheduler.manager.Scheduler`
   (the build cast goes to a recording bus). Half are timed as the decision alone,
   ``select_destination`` (nova's select_destinations: filter and weigh the scheduler's host
   states, claim the best host in one transaction), half as the whole ``schedule_instance`` cast
   (load the instance, decide, read it again, cast the build). p50/p95/max (ms), and the parts:
   reading all host states from the database (the scheduler does it every
   ``HOST_STATE_TTL`` s), filtering + weighing 1000 hosts in memory; ``decision_cpu`` is the
   process CPU time (all threads: the event loop and SQLite's) per decision, which other work on
   the machine does not change. Target (the issue): <= 10 ms per decision.
2. ``detail`` (against a cloud, e.g. a sandbox): ``--servers`` (1000) server rows are put straight
   into the cloud's compute database (``kumo`` settings: ``KUMO_CONFIG``; project of the caller,
   on a host no agent serves, so nothing acts on them), then ``GET /servers/detail`` is timed
   ``--detail-runs`` (10) times (nova's page limit is 1000: one page holds them all); p50/max (ms),
   response size; then the rows are deleted again.
3. ``boots`` (against a cloud): ``--boots`` (20) ``POST /servers`` at once (flavor ``--flavor``,
   image ``--image``, network ``--network``), wall seconds until all are ACTIVE and per server
   seconds to ACTIVE (p50/max); then all are deleted and the wait for them to go is timed too.
   On a sandbox that is the fake driver (the control plane alone); quotas of the caller's
   project are lifted for the run and restored after.

Usage: ``python -m bench.compute [--only sched,detail,boots] [--cloud admin] [--note TEXT]``; in a
sandbox: ``scripts/sandbox.sh exec NAME .venv/bin/python -m bench.compute``. Writes
``bench/results/compute.json`` (after each measure, so an interrupted run keeps its numbers).
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import tempfile
import time
import uuid as uuidlib
from pathlib import Path

from sqlalchemy import delete, insert

from bench.loadgen import percentile
from bench.network import Api, BenchError, lift_quotas, machine, save, sh, summary
from kumo import config
from kumo.common.db import utcnow
from kumo.compute.models import ComputeNode, Instance, Service, open_database
from kumo.compute.scheduler.filters import Ratios, filter_hosts, weigh
from kumo.compute.scheduler.manager import Scheduler, host_states

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"
MEASURES = ("sched", "detail", "boots")
PREFIX = "bench-cmp-"
#: the host the ``detail`` rows claim: no agent serves it, so no power sync or reconcile touches them
DETAIL_HOST = "bench-detail-nohost"
FLAVOR = {"id": "1", "name": "m1.tiny", "vcpus": 1, "ram": 512, "disk": 1, "ephemeral": 0, "swap": 0,
          "extra_specs": {}}


class RecordingBus:
    """The bus the scheduler casts the build to: records ``(topic, method, kwargs)``."""

    def __init__(self):
        self.casts: list[tuple[str, str, dict]] = []

    async def cast(self, topic: str, method: str, /, **kwargs) -> None:
        self.casts.append((topic, method, kwargs))

    async def notify(self, event: str, payload: dict) -> None:
        pass


def instance_row(i: int, project_id: str, user_id: str, host: str | None, **over) -> dict:
    """Column values of one ``instances`` row shaped like a booted (or waiting) server."""
    now = utcnow()
    row = {"uuid": str(uuidlib.uuid4()), "display_name": f"{PREFIX}{i}", "hostname": f"{PREFIX}{i}",
           "project_id": project_id, "user_id": user_id, "host": host, "node": host, "flavor_id": "1",
           "flavor": FLAVOR, "image_ref": "", "meta": {"k": "v"}, "requested_networks": [],
           "network_info": [{"port_id": str(uuidlib.uuid4()), "network_id": "n", "network_name": "private",
                             "mac_address": "fa:16:3e:00:%02x:%02x" % (i // 256 % 256, i % 256),
                             "fixed_ips": [{"ip_address": f"10.{i // 65536 % 256}.{i // 256 % 256}.{i % 256}",
                                            "subnet_id": "s", "version": 4}],
                             "vif_type": "bridge", "bridge": "brq", "devname": "tap", "created_port": True}],
           "system_metadata": {}, "security_groups": ["default"], "tags": [], "vm_state": "active",
           "task_state": None, "power_state": 1, "launched_at": now, "created_at": now, "updated_at": now}
    row.update(over)
    return row


# -- 1. scheduling decisions at 1000 hosts -------------------------------------------------
async def measure_sched(hosts: int, placed: int, decisions: int) -> dict:
    with tempfile.TemporaryDirectory(prefix="kumo-bench-sched-") as tmp:
        settings = config.load(path="/nonexistent", environ={"KUMO_STATE_DIR": tmp})
        db = open_database(settings.database_url("compute"))
        await db.create_schema()
        try:
            now = utcnow()
            names = [f"fake-{i:04d}" for i in range(hosts)]
            async with db.session() as s:
                await s.execute(insert(ComputeNode), [
                    {"host": n, "hypervisor_hostname": n, "hypervisor_type": "fake", "hypervisor_version": 1,
                     "vcpus": 16 + 16 * (i % 3), "memory_mb": 65536 + 32768 * (i % 4), "local_gb": 2000,
                     "cpu_info": "{}", "host_ip": "127.0.0.1", "updated_at": now} for i, n in enumerate(names)])
                await s.execute(insert(Service), [
                    {"host": n, "binary": "nova-compute", "topic": "compute", "updated_at": now} for n in names])
                if placed:
                    await s.execute(insert(Instance), [
                        instance_row(i, "bench", "bench", names[i % hosts]) for i in range(placed)])
            scheduler = Scheduler(db, RecordingBus(), settings)
            ratios = Ratios.from_settings(settings.compute)
            reads, filters, times, whole, cpu = [], [], [], [], []
            for i in range(decisions):
                row = instance_row(placed + i, "bench", "bench", None, vm_state="building",
                                   task_state="scheduling", launched_at=None, power_state=0, network_info=[])
                async with db.session() as s:
                    await s.execute(insert(Instance), [row])
                if i % 2 == 0:  # the decision alone: select_destination (filter, weigh, claim)
                    inst = await scheduler._waiting(row["uuid"])
                    t0, c0 = time.perf_counter(), time.process_time()
                    outcome, target, report = await scheduler.select_destination(inst)
                    times.append(time.perf_counter() - t0)
                    cpu.append(time.process_time() - c0)
                    if outcome != "claimed":
                        raise BenchError(f"decision {i}: {outcome}: {report}")
                    await scheduler._build(row["uuid"], target.host)
                else:  # the whole cast: load the instance, decide, read it again, cast the build
                    t0 = time.perf_counter()
                    await scheduler.schedule_instance(row["uuid"])
                    whole.append(time.perf_counter() - t0)
                _topic, _method, kwargs = scheduler.bus.casts[-1]
                if kwargs["instance"]["uuid"] != row["uuid"]:
                    raise BenchError(f"decision {i} did not claim a host")
                if i % 10 == 0:  # the parts, now and then
                    t0 = time.perf_counter()
                    async with db.session() as s:
                        states = await host_states(s)
                    reads.append(time.perf_counter() - t0)
                    t0 = time.perf_counter()
                    candidates, _ = filter_hosts(states, FLAVOR, ratios)
                    weigh(candidates, ratios)
                    filters.append(time.perf_counter() - t0)
            spread = len({c[0] for c in scheduler.bus.casts})
        finally:
            await db.close()
    decision = summary(times)
    return {"hosts": hosts, "placed_servers": placed, "decisions": decision,
            "decision_cpu": summary(cpu),
            "schedule_instance": summary(whole), "read_host_states": summary(reads), "filter_and_weigh": summary(filters),
            "distinct_hosts_chosen": spread, "target_ms": 10,
            "target_met": decision["p50_ms"] <= 10}


# -- 2. GET /servers/detail with 1000 servers ---------------------------------------------
async def measure_detail(api: Api, servers: int, runs: int) -> dict:
    settings = config.load()
    db = open_database(settings.database_url("compute"))
    uuids: list[str] = []
    try:
        rows = [instance_row(i, api.project_id, "bench", DETAIL_HOST) for i in range(servers)]
        uuids = [r["uuid"] for r in rows]
        async with db.session() as s:
            for start in range(0, len(rows), 250):
                await s.execute(insert(Instance), rows[start:start + 250])
        times, size, count = [], 0, 0
        for _ in range(runs):
            t0 = time.perf_counter()
            resp = await api.http.get(api.base["compute"] + "/servers/detail?name=" + PREFIX)
            times.append(time.perf_counter() - t0)
            if resp.status_code != 200:
                raise BenchError(f"GET /servers/detail: {resp.status_code} {resp.text[:300]}")
            size, count = len(resp.content), len(resp.json()["servers"])
        plain = []
        for _ in range(runs):
            t0 = time.perf_counter()
            resp = await api.http.get(api.base["compute"] + "/servers?name=" + PREFIX)
            plain.append(time.perf_counter() - t0)
        return {"servers": servers, "listed": count, "response_bytes": size, "detail": summary(times),
                "list_ids_names": summary(plain)}
    finally:
        if uuids:
            async with db.session() as s:
                await s.execute(delete(Instance).where(Instance.uuid.in_(uuids)))
        await db.close()


# -- 3. 20 concurrent boots ------------------------------------------------------------------
async def find(api: Api, service: str, path: str, key: str, name: str) -> str:
    for item in (await api.call(service, "GET", path))[key]:
        if name in (item.get("name"), item.get("id")):
            return item["id"]
    raise BenchError(f"no {key[:-1]} named {name!r}")


async def wait_all(api: Api, ids: list[str], wanted: str, timeout: float, t0: float) -> dict[str, float]:
    """Seconds since ``t0`` at which each server reached ``wanted`` (``DELETED``: gone)."""
    reached: dict[str, float] = {}
    while len(reached) < len(ids):
        if time.perf_counter() - t0 > timeout:
            raise BenchError(f"{len(ids) - len(reached)} server(s) not {wanted} after {timeout:.0f} s")
        listed = {s["id"]: s for s in (await api.call(
            "compute", "GET", f"/servers/detail?name={PREFIX}boot-"))["servers"]}
        for sid in ids:
            if sid in reached:
                continue
            server = listed.get(sid)
            if wanted == "DELETED" and server is None:
                reached[sid] = time.perf_counter() - t0
            elif server is not None and server["status"] == wanted:
                reached[sid] = time.perf_counter() - t0
            elif server is not None and server["status"] == "ERROR" and wanted != "DELETED":
                raise BenchError(f"server {sid} went to ERROR: {server.get('fault')}")
        await asyncio.sleep(0.05)
    return reached


async def measure_boots(api: Api, n: int, image: str, flavor: str, network: str, timeout: float) -> dict:
    image_id = await find(api, "image", "/v2/images", "images", image)
    net_id = await find(api, "network", "/networks", "networks", network)
    ids: list[str] = []
    try:
        async def boot(i: int) -> str:
            body = {"server": {"name": f"{PREFIX}boot-{i}", "imageRef": image_id, "flavorRef": flavor,
                               "networks": [{"uuid": net_id}]}}
            return (await api.call("compute", "POST", "/servers", body))["server"]["id"]

        t0 = time.perf_counter()
        ids = list(await asyncio.gather(*(boot(i) for i in range(n))))
        accepted = time.perf_counter() - t0
        active = await wait_all(api, ids, "ACTIVE", timeout, t0)
        wall = max(active.values())
        t1 = time.perf_counter()
        await asyncio.gather(*(api.call("compute", "DELETE", f"/servers/{sid}") for sid in ids))
        gone = await wait_all(api, ids, "DELETED", timeout, t1)
        ids = []
        per = sorted(active.values())
        return {"servers": n, "all_active_s": round(wall, 2), "all_accepted_s": round(accepted, 2),
                "to_active_p50_s": round(percentile(per, 0.5), 2), "to_active_max_s": round(per[-1], 2),
                "all_deleted_s": round(max(gone.values()), 2)}
    finally:
        for sid in ids:
            await api.call("compute", "DELETE", f"/servers/{sid}", expect=(204, 404))


async def run(args) -> dict:
    commit = sh("git", "-C", str(ROOT), "rev-parse", "--short", "HEAD").stdout.strip() or None
    result: dict = {"date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "commit": commit,
                    "note": args.note, "machine": machine(), "loadavg_start": round(os.getloadavg()[0], 2)}
    if "sched" in args.only:
        print(f"sched: {args.hosts} hosts, {args.decisions} decisions", flush=True)
        result["sched"] = await measure_sched(args.hosts, args.placed, args.decisions)
        save(result, args)
    if {"detail", "boots"} & args.only:
        api = Api(args.cloud, max(args.boots, 10))
        result["cloud"], result["endpoint"] = args.cloud, api.base["compute"]
        try:
            if "detail" in args.only:
                print(f"detail: {args.servers} servers", flush=True)
                result["detail"] = await measure_detail(api, args.servers, args.detail_runs)
                save(result, args)
            if "boots" in args.only:
                print(f"boots: {args.boots} at once", flush=True)
                restore = await lift_compute_quotas(api)
                try:
                    result["boots"] = await measure_boots(api, args.boots, args.image, args.flavor,
                                                          args.network, args.timeout)
                finally:
                    await restore()
                save(result, args)
        finally:
            await api.close()
    result["loadavg_end"] = round(os.getloadavg()[0], 2)
    return result


async def lift_compute_quotas(api: Api):
    """Unlimited compute (and network) quotas for the caller's project; returns the restorer."""
    path = f"/os-quota-sets/{api.project_id}"
    before = (await api.call("compute", "GET", path))["quota_set"]
    keys = ("instances", "cores", "ram")
    await api.call("compute", "PUT", path, {"quota_set": {k: -1 for k in keys}})
    restore_net = await lift_quotas(api)

    async def restore() -> None:
        await api.call("compute", "PUT", path, {"quota_set": {k: before[k] for k in keys}})
        await restore_net()
    return restore


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--only", default=",".join(MEASURES), help=f"comma-separated subset of {','.join(MEASURES)}")
    p.add_argument("--cloud", default="admin", help="a cloud of clouds.yaml (detail, boots)")
    p.add_argument("--hosts", type=int, default=1000)
    p.add_argument("--placed", type=int, default=2000)
    p.add_argument("--decisions", type=int, default=200)
    p.add_argument("--servers", type=int, default=1000)
    p.add_argument("--detail-runs", type=int, default=10)
    p.add_argument("--boots", type=int, default=20)
    p.add_argument("--image", default="cirros")
    p.add_argument("--flavor", default="42", help="flavor id for the boots (default 42, m1.nano)")
    p.add_argument("--network", default="public")
    p.add_argument("--timeout", type=float, default=300.0, help="seconds any one wait may take")
    p.add_argument("--note", default=None, help="free text stored with the results (where, what else ran)")
    p.add_argument("--output", default=str(RESULTS / "compute.json"))
    p.add_argument("--no-save", action="store_true")
    args = p.parse_args(argv)
    args.only = {m.strip() for m in args.only.split(",") if m.strip()}
    if args.only - set(MEASURES):
        p.error(f"unknown measure(s): {', '.join(sorted(args.only - set(MEASURES)))}")
    result = asyncio.run(run(args))
    save(result, args)
    print(json.dumps({k: v for k, v in result.items() if k in MEASURES}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
