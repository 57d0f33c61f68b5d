"""``qemu-img`` from async code: inspect, create overlays, convert.

Every function runs ``qemu-img`` as a subprocess (never on the event loop
thread) and raises :class:`kumo.common.host.process.HostError` when it exits
non-zero (for example "Image is not in qcow2 format").

Format names are qemu's (``raw``, ``qcow2``, ``vmdk``, ``vdi``, ``vpc``,
``vhdx``); :data:`GLANCE_TO_QEMU` maps glance ``disk_format`` values to them.
"""
from __future__ import annotations

import json
import os

from kumo.common.host.process import HostError, run

#: glance ``disk_format`` -> qemu-img format name.
GLANCE_TO_QEMU = {"raw": "raw", "qcow2": "qcow2", "vmdk": "vmdk", "vdi": "vdi",
                  "vhd": "vpc", "vhdx": "vhdx", "ami": "raw"}

GiB = 1024 ** 3


async def info(path: str | os.PathLike, fmt: str | None = None, force_share: bool = False,
               timeout: float = 60) -> dict:
    """``qemu-img info --output json`` of ``path`` as a dict.

    ``fmt`` forces the format (``-f``): the call then fails with HostError
    when the file is not of that format, which is how a declared format is
    checked. Without ``fmt`` qemu-img probes the format. ``force_share``
    (``-U``) reads an image a running VM holds open. Keys used by kumo:
    ``format``, ``virtual-size`` (bytes), ``actual-size`` (bytes),
    ``backing-filename`` (absent without a backing file), ``format-specific``.
    """
    cmd = ["qemu-img", "info", "--output", "json"]
    if fmt:
        cmd += ["-f", fmt]
    if force_share:
        cmd.append("-U")
    out = await run(*cmd, str(path), timeout=timeout)
    try:
        return json.loads(out)
    except ValueError as e:
        raise HostError(cmd + [str(path)], 0, f"unparsable qemu-img output: {e}") from None


async def create_overlay(base: str | os.PathLike, path: str | os.PathLike, size_gb: int | None,
                         backing_format: str, timeout: float = 60) -> None:
    """Create the qcow2 ``path`` backed by ``base`` (of ``backing_format``).

    ``size_gb`` is the virtual size in GiB; ``None`` or 0 keeps the base's
    virtual size. The backing file is recorded by absolute path. The caller
    checks the base is not larger than ``size_gb`` (qemu-img refuses to
    create a smaller overlay only when the size cannot hold the base).
    """
    cmd = ["qemu-img", "create", "-q", "-f", "qcow2", "-F", backing_format,
           "-b", os.path.abspath(base), str(path)]
    if size_gb:
        cmd.append(f"{int(size_gb)}G")
    await run(*cmd, timeout=timeout)


async def create(path: str | os.PathLike, size_bytes: int, fmt: str = "qcow2",
                 timeout: float = 60) -> None:
    """Create an empty image of ``size_bytes`` virtual bytes in ``fmt``."""
    await run("qemu-img", "create", "-q", "-f", fmt, str(path), str(int(size_bytes)),
              timeout=timeout)


async def convert(src: str | os.PathLike, dst: str | os.PathLike, src_format: str,
                  dst_format: str = "qcow2", timeout: float = 3600, force_share: bool = False) -> None:
    """Convert ``src`` (of ``src_format``, never probed) into ``dst`` in ``dst_format``;
    ``force_share`` (``-U``) reads a disk a (paused) VM holds open. The result has no backing file."""
    share = ["-U"] if force_share else []
    await run("qemu-img", "convert", "-q", *share, "-f", src_format, "-O", dst_format,
              str(src), str(dst), timeout=timeout)


async def resize(path: str | os.PathLike, size_bytes: int, fmt: str = "qcow2", timeout: float = 60) -> None:
    """Grow (never shrink) the image ``path`` of ``fmt`` to ``size_bytes`` virtual bytes."""
    await run("qemu-img", "resize", "-q", "-f", fmt, str(path), str(int(size_bytes)), timeout=timeout)
