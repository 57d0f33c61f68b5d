"""API errors and the error bodies of each OpenStack service.

Raise an :class:`ApiError` subclass anywhere below an API handler; the app
factory turns it into the owning service's error format:

- ``keystone``: ``{"error": {"code": 401, "title": "Unauthorized", "message": "..."}}``
- ``nova`` (also cinder): ``{"itemNotFound": {"code": 404, "message": "..."}}``
- ``neutron``: ``{"NeutronError": {"type": "NetworkNotFound", "message": "...", "detail": ""}}``
- ``glance``: a plain-text page ``"404 Not Found\\n\\n<message>"`` as glance's webob does.
"""
from __future__ import annotations

from http import HTTPStatus

from starlette.responses import JSONResponse, PlainTextResponse, Response


class ApiError(Exception):
    """An error with an HTTP status, shown to the client in the service's format.

    ``kind`` names the error for formats that carry a type (neutron's
    ``NeutronError.type``); it defaults to the class's ``kind``.
    """

    status = 500
    kind = "InternalError"

    def __init__(self, message: str = "", *, kind: str | None = None, headers: dict | None = None):
        super().__init__(message or HTTPStatus(self.status).phrase)
        self.message = message or HTTPStatus(self.status).phrase
        if kind:
            self.kind = kind
        self.headers = headers or {}


class BadRequest(ApiError):
    status, kind = 400, "BadRequest"


class Unauthorized(ApiError):
    status, kind = 401, "Unauthorized"


class Forbidden(ApiError):
    status, kind = 403, "Forbidden"


class NotFound(ApiError):
    status, kind = 404, "NotFound"


class MethodNotAllowed(ApiError):
    status, kind = 405, "MethodNotAllowed"


class NotAcceptable(ApiError):
    status, kind = 406, "NotAcceptable"


class Conflict(ApiError):
    status, kind = 409, "Conflict"


class PayloadTooLarge(ApiError):
    status, kind = 413, "OverLimit"


class UnsupportedMediaType(ApiError):
    status, kind = 415, "UnsupportedMediaType"


class ServiceUnavailable(ApiError):
    status, kind = 503, "ServiceUnavailable"


# Nova's fault names by status (nova/api/openstack/wsgi.py's mapping).
_NOVA_FAULTS = {
    400: "badRequest",
    401: "unauthorized",
    403: "forbidden",
    404: "itemNotFound",
    405: "badMethod",
    406: "notAcceptable",
    409: "conflictingRequest",
    413: "overLimit",
    415: "badMediaType",
    429: "overLimit",
    501: "notImplemented",
    503: "serviceUnavailable",
}


def render(style: str, status: int, message: str, kind: str = "", headers: dict | None = None) -> Response:
    """Build the error response of ``style`` (keystone, nova, neutron, glance)."""
    headers = dict(headers or {})
    if style == "keystone":
        title = HTTPStatus(status).phrase
        body = {"error": {"code": status, "title": title, "message": message}}
        return JSONResponse(body, status_code=status, headers=headers)
    if style == "nova":
        name = _NOVA_FAULTS.get(status, "computeFault")
        return JSONResponse({name: {"code": status, "message": message}}, status_code=status, headers=headers)
    if style == "neutron":
        body = {"NeutronError": {"type": kind or HTTPStatus(status).phrase.replace(" ", ""),
                                 "message": message, "detail": ""}}
        return JSONResponse(body, status_code=status, headers=headers)
    text = f"{status} {HTTPStatus(status).phrase}\n\n{message}\n\n   "
    return PlainTextResponse(text, status_code=status, headers=headers)


def render_exception(style: str, exc: ApiError) -> Response:
    return render(style, exc.status, exc.message, exc.kind, exc.headers)


def response_message(resp) -> str:
    """The human message of another service's error response (an httpx.Response): the ``message`` of a
    neutron/nova/keystone/glance error body (``{"<kind>": {"message": ...}}`` or ``{"message": ...}``), else
    the last line of a plain-text body, else ``HTTP <status>``."""
    try:
        body = resp.json()
    except ValueError:
        text = resp.text.strip()
        return text.splitlines()[-1].strip() if text else f"HTTP {resp.status_code}"
    if isinstance(body, dict):
        for value in body.values():
            if isinstance(value, dict) and value.get("message"):
                return str(value["message"])
        if body.get("message"):
            return str(body["message"])
    return f"HTTP {resp.status_code}"
