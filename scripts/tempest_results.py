"""Reading a tempest run: per-test results from the subunit stream, and failures
grouped by the HTTP request that caused them (from the tempest log).

Used by scripts/tempest.py; writes ``build/tempest/results/<area>-failures.txt``.
"""
from __future__ import annotations

import io
import re
from pathlib import Path

class Tee(io.RawIOBase):
    """A readable stream that copies what is read from ``src`` into ``sink``."""

    def __init__(self, src, sink):
        self.src, self.sink = src, sink

    def readable(self) -> bool:
        return True

    def read(self, n: int = -1) -> bytes:
        data = self.src.read(n) if n is not None and n >= 0 else self.src.read()
        if data:
            self.sink.write(data)
        return data

    def readinto(self, b) -> int:
        data = self.read(len(b))
        b[:len(data)] = data
        return len(data)


class Counter:
    """Collects per-test results from a subunit v2 stream (testtools.StreamToDict)."""

    def __init__(self) -> None:
        self.passed = self.failed = self.skipped = 0
        self.failures: list[tuple[str, str]] = []
        self.class_level: dict[str, str] = {}  # "pkg.Class" -> "fail" | "skip" (setUpClass)
        self.n = 0

    def __call__(self, test: dict) -> None:
        status = test["status"]
        if status in (None, "exists", "inprogress"):
            return
        self.n += 1
        test_id = test["id"]
        m = re.match(r"^setUpClass \((.*)\)$", test_id)
        if m and status != "success":
            self.class_level[m[1]] = "skip" if status == "skip" else "fail"
        if status in ("success", "xfail"):
            self.passed += 1
            word = "ok"
        elif status == "skip":
            self.skipped += 1
            word = "SKIP"
        else:
            self.failed += 1
            word = "FAIL"
            self.failures.append((test_id, _reason(test)))
        took = ""
        start, stop = test["timestamps"]
        if start and stop:
            took = f" {(stop - start).total_seconds():.1f}s"
        extra = f"  ({_reason(test)})" if word == "SKIP" else ""
        print(f"[{self.n:4d}] {word:4s} {test_id}{took}{extra}", flush=True)


def _reason(test: dict) -> str:
    details = test.get("details") or {}
    for key in ("traceback", "reason"):
        if key in details:
            try:
                text = details[key].as_text()
            except Exception:  # noqa: BLE001
                continue
            lines = [ln.strip() for ln in text.strip().splitlines() if ln.strip()]
            # the last "Name: message" line (exception, "Details: ...", a guest's stderr)
            said = [ln for ln in lines if re.match(r"^[A-Za-z_][\w.]*: \S", ln)]
            if said or lines:
                return (said or lines)[-1][:400]
    return ""


REQUEST_RE = re.compile(r"Request \((?P<who>[^)]*)\): (?P<status>\d{3}) (?P<method>[A-Z]+) "
                        r"(?P<url>\S+)")
ID_RE = re.compile(r"(?<=/)([0-9a-f]{32}|[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})"
                   r"(?=/|$|\?)")


def _short_url(url: str) -> str:
    """``PUT /v3/system/users/{id}/roles/{id}`` from a full URL (ids and query values hidden)."""
    path = re.sub(r"^[a-z]+://[^/]+", "", url)
    path, _, query = path.partition("?")
    path = ID_RE.sub("{id}", path)
    path = re.sub(r"(?<=/)tempest-[^/?]*", "{name}", path)
    if query:
        path += "?" + "&".join(sorted({q.split("=", 1)[0] for q in query.split("&")}))
    return path


def error_requests(log_path: Path) -> tuple[dict[str, list[str]], list[str]]:
    """From the tempest log: ``Class:method`` -> its requests answered >= 400, and every 5xx."""
    per_test: dict[str, list[str]] = {}
    server_errors: list[str] = []
    try:
        lines = log_path.read_text(errors="replace").splitlines()
    except OSError:
        return per_test, server_errors
    for line in lines:
        m = REQUEST_RE.search(line)
        if not m or int(m["status"]) < 400:
            continue
        what = f"{m['status']} {m['method']} {_short_url(m['url'])}"
        per_test.setdefault(m["who"], []).append(what)
        if int(m["status"]) >= 500:
            server_errors.append(f"{m['who']}: {m['status']} {m['method']} {m['url']}")
    return per_test, server_errors


def _test_keys(test_id: str) -> list[str]:
    """Tempest's log tags (``Class:method``) under which a test's requests may be logged."""
    m = re.match(r"^(setUpClass|tearDownClass) \((.*)\)$", test_id)
    if m:
        return [f"{m[2].rsplit('.', 1)[-1]}:{m[1]}"]
    parts = test_id.split("[", 1)[0].split(".")
    if len(parts) < 2:
        return [test_id]
    return [f"{parts[-2]}:{parts[-1]}", f"{parts[-2]}:setUp"]


def write_failures(results: Path, area: str, counter: "Counter", log_path: Path) -> list[str]:
    """``results/<area>-failures.txt``: each failure with its reason and the last error request of
    the test, then the failures grouped by that request; returns the 5xx requests seen."""
    per_test, server_errors = error_requests(log_path)
    groups: dict[str, list[str]] = {}
    with (results / f"{area}-failures.txt").open("w") as f:
        for test_id, reason in counter.failures:
            requests = next((per_test[k] for k in _test_keys(test_id) if k in per_test), [])
            hint = requests[-1] if requests else ""
            action = re.search(r"no such action: ([\w-]+)", reason)
            if hint and action:
                hint += f" ({action[1]})"
            f.write(f"{test_id}\n    {reason}\n")
            if hint:
                f.write(f"    last error request: {hint}\n")
            groups.setdefault(hint or reason[:120], []).append(test_id)
        f.write("\n# failures grouped by their last error request (or reason)\n")
        for key, tests in sorted(groups.items(), key=lambda kv: -len(kv[1])):
            f.write(f"{len(tests):4d}  {key}\n")
        if server_errors:
            f.write("\n# HTTP 5xx responses\n")
            f.writelines(f"{line}\n" for line in server_errors)
    return server_errors
