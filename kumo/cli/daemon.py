"""Starting and stopping the all-in-one supervisor in the background."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

from kumo.cli.supervisor import API_SECTIONS, api_port
from kumo.config import Settings


def pid_file(settings: Settings) -> Path:
    return settings.path("kumo.pid")


def log_file(settings: Settings) -> Path:
    return settings.path("logs", "kumo.log")


def running_pid(settings: Settings) -> int | None:
    """The supervisor's pid if it is alive (a stale pid file is removed)."""
    path = pid_file(settings)
    try:
        pid = int(path.read_text().strip())
        os.kill(pid, 0)
    except (FileNotFoundError, ValueError):
        return None
    except ProcessLookupError:
        path.unlink(missing_ok=True)
        return None
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return None
    if b"kumo" not in cmdline:
        path.unlink(missing_ok=True)
        return None
    return pid


def start(settings: Settings, config_file: str) -> int:
    """Start ``kumo serve all`` detached; returns its pid (the running one if already up)."""
    pid = running_pid(settings)
    if pid:
        return pid
    log = log_file(settings)
    log.parent.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ, KUMO_CONFIG=config_file)
    with open(log, "ab") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "kumo.cli.main", "serve", "all", "--log-file", str(log)],
            stdin=subprocess.DEVNULL, stdout=out, stderr=out, start_new_session=True, env=env)
    pid_file(settings).write_text(str(proc.pid))
    return proc.pid


def stop(settings: Settings, timeout: float = 30) -> bool:
    """SIGTERM the supervisor and wait (SIGKILL after ``timeout`` s). False if it was not running."""
    pid = running_pid(settings)
    if not pid:
        return False
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            break
        time.sleep(0.2)
    else:
        os.kill(pid, signal.SIGKILL)
    pid_file(settings).unlink(missing_ok=True)
    return True


def api_up(settings: Settings, name: str) -> bool:
    """True if API component ``name`` (``identity-api``...) answers HTTP on its port."""
    port = api_port(settings, name)
    try:
        httpx.get(f"http://127.0.0.1:{port}/", timeout=2)
        return True
    except httpx.HTTPError:
        return False


def wait_apis(settings: Settings, timeout: float = 90, on_up=None) -> list[str]:
    """Wait until every API answers; returns the API components still down at ``timeout``."""
    pending = [n for n in API_SECTIONS if api_port(settings, n)]
    deadline = time.monotonic() + timeout
    while pending and time.monotonic() < deadline:
        for name in list(pending):
            if api_up(settings, name):
                pending.remove(name)
                if on_up:
                    on_up(name)
        if pending:
            if running_pid(settings) is None:
                break
            time.sleep(0.2)
    return pending
