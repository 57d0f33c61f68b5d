"""Image data stores. Only the file store exists so far (glance's ``file`` backend)."""
from kumo.image.store.file import FileStore, SizeLimitExceeded, StoredData  # noqa: F401
