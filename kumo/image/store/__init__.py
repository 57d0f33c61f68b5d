"""Image data stores: named file stores and the read-only http ``web`` store (:mod:`.registry`)."""
from kumo.image.store.file import FileStore, SizeLimitExceeded, StoredData  # noqa: F401
from kumo.image.store.http import HttpStore  # noqa: F401
from kumo.image.store.registry import WEB, Stores  # noqa: F401
