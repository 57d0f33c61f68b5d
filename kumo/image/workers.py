"""Distributed import: several image API workers of one cloud, each with its own staging area.

Glance's "distributed image import": the worker that stages an image's data records its own
URL (``worker_self_reference_url``) in the image property ``os_glance_stage_host``. A worker
that receives ``POST /v2/images/{id}/import`` (glance-direct) or ``DELETE /v2/images/{id}`` for
an image staged on another worker forwards the request there with the caller's token, since
only that worker can read (or remove) the staged data.

:class:`Workers` knows this worker's URL and forwards requests (httpx). A forwarded request's
error is re-raised with the other worker's status and message; a worker that cannot be reached
is a 503 (``ServiceUnavailable``).
"""
from __future__ import annotations

import logging

import httpx

from kumo.common.api.errors import ApiError, ServiceUnavailable
from kumo.common.auth.context import RequestContext
from kumo.image.models import Image

log = logging.getLogger(__name__)

#: The image property naming the worker that holds an image's staged data.
STAGE_HOST = "os_glance_stage_host"


class Forwarded(ApiError):
    """An error answered by the worker a request was forwarded to (its status and message)."""

    def __init__(self, status: int, message: str):
        self.status = status
        super().__init__(message)


class Workers:
    """This worker's place among the image API workers.

    ``self_url``: this worker's base URL (``http://host:9292``) as other workers reach it, or ""
    for a lone worker (nothing is recorded or forwarded); ``primary``: this worker also looks after
    images that name no stage host (staged before hosts were recorded, or web-download imports);
    ``http``: the client requests are forwarded with (default: one of its own, closed by
    :meth:`close`); ``timeout``: seconds per forwarded request.
    """

    def __init__(self, self_url: str = "", primary: bool = True, http: httpx.AsyncClient | None = None,
                 timeout: float = 60):
        self.self_url = self_url.rstrip("/")
        self.primary = primary
        self.timeout = timeout
        self._http, self._own = http, http is None

    def stage_marker(self) -> dict[str, str | None]:
        """The extra properties to set on an image this worker staged (none for a lone worker)."""
        return {STAGE_HOST: self.self_url} if self.self_url else {}

    def elsewhere(self, image: Image) -> str | None:
        """The URL of the other worker holding ``image``'s staged data, or None if it is here."""
        host = (image.extra or {}).get(STAGE_HOST)
        if not host or not self.self_url or host.rstrip("/") == self.self_url:
            return None
        return host.rstrip("/")

    def owns(self, image: Image) -> bool:
        """True if this worker cleans up after ``image``'s interrupted stage or import."""
        host = (image.extra or {}).get(STAGE_HOST)
        return self.primary if not host else self.elsewhere(image) is None

    async def forward(self, ctx: RequestContext, host: str, method: str, path: str,
                      json: object = None) -> httpx.Response:
        """Send ``method path`` to worker ``host`` with the caller's token; the 2xx response.

        Raises :class:`Forwarded` for an error answer, ServiceUnavailable (503) when ``host``
        cannot be reached.
        """
        if self._http is None:
            self._http = httpx.AsyncClient(timeout=self.timeout)
        headers = {"X-Auth-Token": ctx.token or "", "Accept": "application/json"}
        try:
            resp = await self._http.request(method, host + path, headers=headers, json=json,
                                            timeout=self.timeout)
        except httpx.HTTPError as e:
            log.warning("forwarding %s %s to %s failed: %s", method, path, host, e)
            raise ServiceUnavailable(f"The image worker {host} holding the staged data is unavailable.") from None
        if resp.status_code >= 400:
            raise Forwarded(resp.status_code, _message(resp))
        return resp

    async def close(self) -> None:
        if self._own and self._http is not None:
            await self._http.aclose()
            self._http = None


def _message(resp: httpx.Response) -> str:
    """The message of a glance error body (JSON or plain text)."""
    try:
        body = resp.json()
        return str(body["error"]["message"])
    except (ValueError, KeyError, TypeError):
        text = resp.text.strip()
        return text.split("\n\n")[1].strip() if text.count("\n\n") >= 1 else (text or "error")
