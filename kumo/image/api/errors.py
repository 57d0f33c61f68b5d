"""Glance error bodies, negotiated on the ``Accept`` header as webob does.

Glance's errors are webob pages; the first of ``text/html`` and
``application/json`` the client accepts wins (``text/html`` on a tie, so also
for a missing header or ``*/*``), else plain text:

- HTML: ``<html>...<h1>404 Not Found</h1>\n  <message><br /><br />...`` (openstacksdk
  strips the tags and shows "404 Not Found: <message>");
- JSON: ``{"message": "...", "code": "404 Not Found", "title": "Not Found"}``;
- plain text: ``"404 Not Found\\n\\n<message>"`` (the common renderer).

:func:`install` adds these handlers to an app built by ``create_app(style="glance")``.
"""
from __future__ import annotations

import html
from http import HTTPStatus

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response

from kumo.common.api.errors import ApiError, render


def _quality(accept: str, media_type: str) -> float:
    """The q-value ``accept`` gives ``media_type`` (0 when not acceptable)."""
    major = media_type.split("/")[0]
    best, specificity = 0.0, -1
    for item in accept.split(","):
        parts = [p.strip() for p in item.split(";")]
        kind = parts[0].lower()
        q = 1.0
        for param in parts[1:]:
            name, _, value = param.partition("=")
            if name.strip() == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
        rank = 2 if kind == media_type else 1 if kind == f"{major}/*" else 0 if kind == "*/*" else -1
        if rank > specificity:
            best, specificity = q, rank
    return best if specificity >= 0 else 0.0


def negotiate(request: Request) -> str:
    """``text/html``, ``application/json`` or ``text/plain`` for the request's Accept header."""
    accept = request.headers.get("accept", "").strip() or "*/*"
    html_q, json_q = _quality(accept, "text/html"), _quality(accept, "application/json")
    if html_q > 0 and html_q >= json_q:
        return "text/html"
    if json_q > 0:
        return "application/json"
    return "text/plain"


def glance_error(request: Request, status: int, message: str, headers: dict | None = None) -> Response:
    """The error response for ``request`` in the negotiated format."""
    kind = negotiate(request)
    if kind == "text/plain":
        return render("glance", status, message, headers=headers)
    phrase = HTTPStatus(status).phrase
    title = f"{status} {phrase}"
    if kind == "application/json":
        body = {"message": message, "code": title, "title": phrase}
        return JSONResponse(body, status_code=status, headers=dict(headers or {}))
    page = (f"<html>\n <head>\n  <title>{title}</title>\n </head>\n <body>\n  <h1>{title}</h1>\n"
            f"  {html.escape(message, quote=False)}<br /><br />\n\n\n\n </body>\n</html>")
    return HTMLResponse(page, status_code=status, headers=dict(headers or {}))


async def _api_error(request: Request, exc: ApiError) -> Response:
    return glance_error(request, exc.status, exc.message, exc.headers)


async def _http_error(request: Request, exc: HTTPException) -> Response:
    message = exc.detail if isinstance(exc.detail, str) else ""
    if exc.status_code == 404:
        message = "The resource could not be found."
    return glance_error(request, exc.status_code, message, getattr(exc, "headers", None))


def install(app) -> None:
    """Register the Accept-aware handlers for API errors and routing errors (404, 405)."""
    app.add_exception_handler(ApiError, _api_error)
    app.add_exception_handler(HTTPException, _http_error)
