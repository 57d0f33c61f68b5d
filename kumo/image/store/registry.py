"""The image stores of one node (glance multistore): named file stores plus the read-only ``web``
(http) store.

- file stores come from ``[image] stores`` (id -> directory), ``default_store`` is where data
  goes when a request names no store, ``store_weights`` order an image's ``stores`` and the
  choice of the location data is read from (highest weight first, then id);
- :meth:`Stores.store_of_url` says which store a location URL belongs to: a file store's own
  ``file://`` URL of *that* image, or ``web`` for http(s) URLs. Any other URL (another path of
  the host, another image's file, other schemes) is refused with 400: letting a user point an
  image at ``file:///etc/shadow`` or at another project's image file would disclose it.
- :meth:`Stores.info` is the ``GET /v2/info/stores`` (``/detail`` for admins) body.
"""
from __future__ import annotations

import logging
from pathlib import Path
from urllib.parse import urlsplit

from kumo.common.api.errors import BadRequest
from kumo.image.store.file import FileStore
from kumo.image.store.http import HttpStore

log = logging.getLogger(__name__)

WEB = "web"


class Stores:
    """File stores ``files`` (id -> store), the ``default`` id, ``weights`` and the optional ``http`` store."""

    def __init__(self, files: dict[str, FileStore], default: str | None = None,
                 weights: dict[str, int] | None = None, http: HttpStore | None = None):
        if not files:
            raise ValueError("at least one file store is needed")
        self.files = dict(files)
        self.default = default if default in self.files else next(iter(self.files))
        self.weights = dict(weights or {})
        self.http = http

    @classmethod
    def from_settings(cls, settings) -> "Stores":
        """The stores of ``settings.image`` (see :class:`kumo.config.ImageSettings`)."""
        cfg = settings.image
        files = {}
        for n, (name, directory) in enumerate((cfg.stores or {"file": ""}).items()):
            root = directory or (settings.image_store if n == 0 else settings.path(f"images-{name}"))
            files[name] = FileStore(Path(root))
        http = HttpStore(allowed_ports=cfg.web_download_allowed_ports) if cfg.http_store else None
        return cls(files, cfg.default_store, cfg.store_weights, http)

    # --- names ------------------------------------------------------------------------------

    def weight(self, name: str) -> int:
        return self.weights.get(name, 0)

    def ordered(self, names) -> list[str]:
        """``names`` without duplicates, highest weight first, then by id."""
        return sorted(set(names), key=lambda n: (-self.weight(n), n))

    @property
    def writable(self) -> list[str]:
        """The file store ids, in weight order."""
        return self.ordered(self.files)

    def file(self, name: str | None) -> FileStore:
        """The file store ``name`` (the default for None)."""
        return self.files[name or self.default]

    def check_writable(self, name: str, error=BadRequest) -> str:
        """``name`` if it is a file store, else ``error`` (glance: 400 on upload, 409 on import)."""
        if name not in self.files:
            if name == WEB and self.http is not None:
                raise error(f"Store {name} is read only")
            raise error(f"Store for identifier {name} not found")
        return name

    # --- locations --------------------------------------------------------------------------

    def store_of_url(self, image_id: str, url: object) -> str:
        """The store id of a location ``url`` given for ``image_id``; 400 if it is not allowed."""
        if not isinstance(url, str) or not url or len(url) > 2048:
            raise BadRequest("A location needs a 'url' string.")
        try:
            parts = urlsplit(url)
        except ValueError:
            raise BadRequest(f"Invalid location URL {url}") from None
        if parts.scheme in ("http", "https"):
            if self.http is None:
                raise BadRequest("The http store is not enabled: http(s) locations are not accepted.")
            if not parts.hostname:
                raise BadRequest(f"Invalid location URL {url}")
            return WEB
        if parts.scheme == "file":
            for name, store in self.files.items():
                try:
                    own = store.location(image_id)
                except ValueError:
                    break
                if url == own and store.exists(image_id):
                    return name
            raise BadRequest("Invalid location: file URLs other than the image's own store file "
                             "are not accepted.")
        raise BadRequest(f"Invalid location: unknown scheme '{parts.scheme}' "
                         "(only http and https are accepted).")

    def store_of_legacy(self, url: str) -> str:
        """The file store holding a pre-multistore ``file://`` location (the default otherwise)."""
        path = urlsplit(url).path
        for name, store in self.files.items():
            if Path(path).parent == store.root.resolve():
                return name
        return WEB if urlsplit(url).scheme in ("http", "https") else self.default

    # --- lifecycle --------------------------------------------------------------------------

    def prepare(self) -> list[str]:
        """Create the file store directories; ids of uploads a crash interrupted."""
        stale: list[str] = []
        for store in self.files.values():
            stale += store.prepare()
        return stale

    async def delete_all(self, image_id: str) -> None:
        """Remove the image's data from every file store (never raises)."""
        for name, store in self.files.items():
            try:
                await store.delete(image_id)
            except (OSError, ValueError):
                log.exception("could not remove the data of image %s from store %s", image_id, name)

    def info(self, detail: bool = False) -> dict:
        """``{"stores": [{"id", "description", "default"?, "weight", "read-only"?, ...}]}``."""
        out = []
        for name in self.writable:
            entry = {"id": name, "description": f"File store {name}", "weight": self.weight(name)}
            if name == self.default:
                entry["default"] = True
            if detail:
                entry["type"] = "file"
                entry["properties"] = {"data_dir": str(self.files[name].root),
                                       "chunk_size": self.files[name].block_size}
            out.append(entry)
        if self.http is not None:
            entry = {"id": WEB, "description": "Read-only http(s) store", "read-only": "true",
                     "weight": self.weight(WEB)}
            if detail:
                entry["type"] = "http"
                entry["properties"] = {}
            out.append(entry)
        return {"stores": out}

