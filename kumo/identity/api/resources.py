"""The identity resources beyond users, groups, roles and tokens, wired into the component.

:data:`routes` serves credentials and OS-EC2, OS-EP-FILTER, domain
configuration, unified limits, policy documents and OS-OAUTH1 consumers;
:func:`services` builds their services for the app state and
:func:`credential_keys` names the Fernet key repository that encrypts
credential blobs and consumer secrets (created by :func:`setup`).
"""
from __future__ import annotations

from pathlib import Path

from kumo.common.db import Database
from kumo.config import Settings
from kumo.identity.api import credentials, domain_config, endpoint_filter, legacy_policies, limits, oauth1
from kumo.identity.credentials import CredentialService, SecretBox
from kumo.identity.domain_config import DomainConfigService
from kumo.identity.endpoint_filter import EndpointFilterService
from kumo.identity.legacy_policies import PolicyService
from kumo.identity.limits import LimitService
from kumo.identity.oauth1 import ConsumerService
from kumo.identity.tokens import KeyRepository, setup_keys

routes = [*domain_config.routes, *credentials.routes, *endpoint_filter.routes, *limits.routes,
          *legacy_policies.routes, *oauth1.routes]


def credential_keys(settings: Settings) -> Path:
    """``<state dir>/credential-keys``: keystone's credential key repository, apart from token keys."""
    return settings.path("credential-keys")


def setup(settings: Settings) -> None:
    """Create the credential key repository if it is missing (idempotent)."""
    setup_keys(credential_keys(settings))


def services(settings: Settings, db: Database) -> dict:
    """The app state entries the resource handlers read (``request.app.state.<name>``)."""
    box = SecretBox(KeyRepository(credential_keys(settings)))
    return {"credentials": CredentialService(db, box), "consumers": ConsumerService(db, box),
            "domain_config": DomainConfigService(db), "endpoint_filter": EndpointFilterService(db),
            "limits": LimitService(db), "policies": PolicyService(db)}
