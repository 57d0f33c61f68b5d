"""Version discovery documents shared by the APIs."""
from __future__ import annotations

from starlette.requests import Request


def base_url(request: Request) -> str:
    """Scheme, host and port the client used (honours X-Forwarded-Proto/Host)."""
    proto = request.headers.get("x-forwarded-proto", request.url.scheme)
    host = request.headers.get("x-forwarded-host", request.headers.get("host", request.url.netloc))
    return f"{proto}://{host}"


def link(href: str, rel: str = "self") -> dict:
    return {"href": href, "rel": rel}
