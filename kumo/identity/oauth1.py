"""OAuth1 consumers (Identity API v3 extension OS-OAUTH1: "Consumers").

A consumer is an id, an optional description and a secret generated at
creation (shown only in the create response, stored encrypted with the
credential keys, see :class:`kumo.identity.credentials.SecretBox`). The
OAuth1 request-token / access-token flow is not implemented. Errors:
NotFound (404) for unknown ids.
"""
from __future__ import annotations

import secrets

from kumo.common.db import Database
from kumo.identity import crud
from kumo.identity import models as m
from kumo.identity import resource_schemas as rs
from kumo.identity.credentials import SecretBox


class ConsumerService:
    def __init__(self, db: Database, box: SecretBox):
        self.db = db
        self.box = box

    async def list_consumers(self) -> list[m.Consumer]:
        return await crud.list_rows(self.db, m.Consumer)

    async def get_consumer(self, consumer_id: str) -> m.Consumer:
        return await crud.fetch(self.db, m.Consumer, consumer_id, "consumer")

    async def create_consumer(self, data: rs.ConsumerCreate) -> tuple[m.Consumer, str]:
        """A new consumer and its secret (32 hex digits; not retrievable later)."""
        secret = secrets.token_hex(16)
        c = m.Consumer(description=data.description, encrypted_secret=self.box.encrypt(secret), extra={})
        return await crud.add_row(self.db, c), secret

    async def update_consumer(self, consumer_id: str, data: rs.ConsumerUpdate) -> m.Consumer:
        async with self.db.session() as db:
            c = await crud.get_or_404(db, m.Consumer, consumer_id, "consumer")
            if "description" in data.model_fields_set:
                c.description = data.description
        return c

    async def delete_consumer(self, consumer_id: str) -> None:
        await crud.delete_or_404(self.db, m.Consumer, consumer_id, "consumer")
