"""Running host commands from async code."""
from __future__ import annotations

import asyncio
import logging
import os
import shlex
import signal
import time
from typing import Callable

log = logging.getLogger(__name__)


class HostError(Exception):
    """A host command failed; ``returncode`` and ``stderr`` say how."""

    def __init__(self, cmd: list[str], returncode: int, stderr: str):
        super().__init__(f"{shlex.join(cmd)} exited {returncode}: {stderr.strip()}")
        self.cmd, self.returncode, self.stderr = cmd, returncode, stderr


async def run(*cmd: str, check: bool = True, input: bytes | None = None, timeout: float = 120) -> str:
    """Run ``cmd`` (no shell) and return its stdout as text.

    Raises :class:`HostError` on a non-zero exit when ``check`` is true, and
    ``TimeoutError`` (after killing it) when it runs past ``timeout`` seconds.
    """
    proc = await asyncio.create_subprocess_exec(
        *cmd, stdin=asyncio.subprocess.PIPE if input is not None else asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    try:
        out, err = await asyncio.wait_for(proc.communicate(input), timeout)
    except (asyncio.TimeoutError, asyncio.CancelledError):
        proc.kill()
        await proc.wait()
        raise
    if check and proc.returncode != 0:
        raise HostError(list(cmd), proc.returncode, err.decode(errors="replace"))
    log.debug("ran %s", shlex.join(cmd))
    return out.decode(errors="replace")


def cmdline(pid: int) -> list[str]:
    """The arguments of process ``pid`` from /proc (``[]`` when it is gone or unreadable)."""
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            raw = f.read()
    except OSError:
        return []
    return [a.decode(errors="replace") for a in raw.split(b"\0") if a]


def terminate(pid: int, alive: Callable[[list[str]], bool] = bool, timeout: float = 5.0) -> None:
    """SIGTERM ``pid``, then SIGKILL once ``timeout`` seconds passed while ``alive(cmdline)``
    still holds (default: the process exists); quiet if it is gone.

    Blocking (polls /proc every 50 ms): call it from a thread.
    """
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not alive(cmdline(pid)):
            return
        time.sleep(0.05)
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
