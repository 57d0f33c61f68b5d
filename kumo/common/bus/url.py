"""Bus URLs: ``memory://`` and ``rabbit://user:pass@host:port/vhost`` (oslo.messaging's form)."""
from __future__ import annotations

from dataclasses import dataclass, field
from urllib.parse import parse_qsl, unquote, urlsplit


@dataclass(frozen=True)
class RabbitParams:
    """Where and how to reach a RabbitMQ broker (AMQP 0-9-1)."""

    host: str = "localhost"
    port: int = 5672
    login: str = "guest"
    password: str = "guest"
    virtualhost: str = "/"
    ssl: bool = False
    #: Extra connection options from the query string (``heartbeat``, ``reconnect_interval``...).
    options: dict[str, str] = field(default_factory=dict)

    def redacted(self) -> str:
        """The URL with the password hidden, for logs and error messages."""
        scheme = "rabbits" if self.ssl else "rabbit"
        return f"{scheme}://{self.login}:***@{self.host}:{self.port}/{self.virtualhost}"


def parse_rabbit_url(url: str) -> RabbitParams:
    """Parse ``rabbit://[user[:pass]@]host[:port][/vhost][?opt=value&...]``.

    ``rabbits://`` means AMQP over TLS (default port 5671). The vhost is the
    percent-decoded path without its leading ``/``; an empty path is ``/``.
    User and password are percent-decoded. Raises ``ValueError`` for another
    scheme, a missing host, a bad port or several hosts (``h1,h2``: unsupported).
    """
    parts = urlsplit(url)
    if parts.scheme not in ("rabbit", "rabbits"):
        raise ValueError(f"not a rabbit:// URL: {url!r}")
    netloc = parts.netloc.partition("@")[2] if "@" in parts.netloc else parts.netloc
    if "," in netloc:
        raise ValueError("several broker hosts in one bus URL are not supported")
    try:
        port = parts.port
    except ValueError as e:
        raise ValueError(f"bad port in bus URL: {e}") from None
    if not parts.hostname:
        raise ValueError("bus URL has no host")
    ssl = parts.scheme == "rabbits"
    path = unquote(parts.path[1:]) if parts.path.startswith("/") else unquote(parts.path)
    return RabbitParams(
        host=parts.hostname,
        port=port or (5671 if ssl else 5672),
        login=unquote(parts.username) if parts.username is not None else "guest",
        password=unquote(parts.password) if parts.password is not None else "guest",
        virtualhost=path or "/",
        ssl=ssl,
        options=dict(parse_qsl(parts.query)),
    )
