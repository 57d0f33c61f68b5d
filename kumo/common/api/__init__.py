"""API plumbing shared by every service: app factory, errors, bodies, versions."""
from kumo.common.api.app import context, create_app  # noqa: F401
from kumo.common.api import errors  # noqa: F401
