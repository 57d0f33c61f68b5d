"""Fetching image data: from a URL (``web-download``, legacy import tasks) or from an image API
of the cloud (``glance-download``).

Only ``http`` and ``https`` URLs with a host are accepted (400 otherwise,
"does not pass filtering" as glance says), optionally only on
``allowed_ports`` (``[image] web_download_allowed_ports``; redirects are
checked too). The body streams in chunks on the event loop (httpx), so a
download never blocks other requests; the caller bounds its size and time.
"""
from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from urllib.parse import urlsplit

import httpx

from kumo.common.api.errors import BadRequest

SCHEMES = ("http", "https")
MAX_REDIRECTS = 5


class FetchError(Exception):
    """The URL could not be read (connection error, non-200 answer, refused redirect)."""


def _port(parts) -> int:
    return parts.port or (443 if parts.scheme == "https" else 80)


def check_url(url: object, allowed_ports: Sequence[int] = ()) -> str:
    """``url`` if it may be fetched; 400 for anything but an http(s) URL (on an allowed port)."""
    if not isinstance(url, str) or not url:
        raise BadRequest("Import method web-download needs a 'uri' string.")
    try:
        parts = urlsplit(url)
        port = _port(parts)
    except ValueError:
        raise BadRequest(f"URI {url} is not valid.") from None
    if parts.scheme not in SCHEMES or not parts.hostname:
        raise BadRequest(f"URI for web-download does not pass filtering: {url} "
                         "(only http and https URLs are allowed)")
    if allowed_ports and port not in allowed_ports:
        raise BadRequest(f"URI for web-download does not pass filtering: {url} (port {port} is not allowed)")
    return url


@asynccontextmanager
async def open_url(url: str, allowed_ports: Sequence[int] = (),
                   timeout: float = 60) -> AsyncIterator[AsyncIterator[bytes]]:
    """``async with open_url(url) as chunks:`` the body of a 200 answer; :class:`FetchError` otherwise.

    ``timeout`` bounds connecting and each read (seconds), not the whole download.
    """
    async def check_redirect(request: httpx.Request) -> None:
        try:
            check_url(str(request.url), allowed_ports)
        except BadRequest as e:
            raise FetchError(e.message) from None

    try:
        async with httpx.AsyncClient(timeout=timeout, follow_redirects=True, max_redirects=MAX_REDIRECTS,
                                     event_hooks={"request": [check_redirect]}) as client:
            async with client.stream("GET", url) as response:
                if response.status_code != 200:
                    raise FetchError(f"{url} answered HTTP {response.status_code}")
                yield response.aiter_bytes()
    except httpx.HTTPError as e:
        raise FetchError(f"could not download {url}: {e or type(e).__name__}") from None


# --- glance-download: another image API of the cloud (a region), with the caller's token -----------

def image_endpoint(catalog: list[dict], region: str, interface: str) -> str | None:
    """The image API base URL of ``region``/``interface`` in a token's catalog, without ``/v2``."""
    for service in catalog:
        if service.get("type") != "image":
            continue
        for ep in service.get("endpoints", []):
            if ep.get("interface") == interface and region in (ep.get("region_id"), ep.get("region")):
                url = ep.get("url", "").rstrip("/")
                return url[:-3] if url.endswith("/v2") else url
    return None


async def remote_image(http: httpx.AsyncClient, base: str, image_id: str, token: str) -> dict:
    """``GET {base}/v2/images/{image_id}`` with ``token``; :class:`FetchError` unless 200."""
    try:
        r = await http.get(f"{base}/v2/images/{image_id}", headers={"X-Auth-Token": token})
    except httpx.HTTPError as e:
        raise FetchError(f"could not reach the image API at {base}: {e or type(e).__name__}") from None
    if r.status_code != 200:
        raise FetchError(f"image {image_id} could not be read from {base} (HTTP {r.status_code})")
    return r.json()


@asynccontextmanager
async def open_remote_data(http: httpx.AsyncClient, base: str, image_id: str,
                           token: str) -> AsyncIterator[AsyncIterator[bytes]]:
    """``async with open_remote_data(...) as chunks:`` the data of a remote image; :class:`FetchError`."""
    url = f"{base}/v2/images/{image_id}/file"
    try:
        async with http.stream("GET", url, headers={"X-Auth-Token": token}) as response:
            if response.status_code != 200:
                raise FetchError(f"the data of image {image_id} could not be read (HTTP {response.status_code})")
            yield response.aiter_bytes()
    except httpx.HTTPError as e:
        raise FetchError(f"could not download {url}: {e or type(e).__name__}") from None
