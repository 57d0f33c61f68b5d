"""Count upstream Keystone's SQL work for one token validation (run with keystone's virtualenv python).

Usage: ``build/bench/keystone-venv/bin/python bench/keystone_sql.py KEYSTONE_CONF ADMIN_PASSWORD
USER_PASSWORD``. Loads ``keystone.wsgi.api`` in-process with that configuration, issues the admin's
and user bench's project tokens, validates the second with the first once to warm up, then once
more while counting, and prints JSON: ``{"statements": N, "connections": N, "cpu_ms": N}``
(SQL statements sent, database connections opened, and the CPU milliseconds of that request).
:mod:`bench.identity` records it beside the throughput numbers to explain them.
"""
from __future__ import annotations

import json
import os
import sys
import time
import warnings


def main() -> int:
    conf, admin_password, user_password = sys.argv[1:4]
    sys.argv[1:] = []  # keystone's oslo.config reads the command line
    warnings.simplefilter("ignore")
    os.environ["OS_KEYSTONE_CONFIG_FILES"] = conf
    from sqlalchemy import event
    from sqlalchemy.engine import Engine
    from werkzeug.test import Client

    from keystone.wsgi.api import application

    client = Client(application)

    def token(user: str, password: str, project: str) -> str:
        body = {"auth": {"identity": {"methods": ["password"], "password": {"user": {
            "name": user, "domain": {"id": "default"}, "password": password}}},
            "scope": {"project": {"name": project, "domain": {"id": "default"}}}}}
        return client.post("/v3/auth/tokens", json=body).headers["X-Subject-Token"]

    headers = {"X-Auth-Token": token("admin", admin_password, "admin"),
               "X-Subject-Token": token("bench", user_password, "bench")}
    assert client.get("/v3/auth/tokens", headers=headers).status_code == 200
    counts = {"statements": 0, "connections": 0}

    def statement(*_args) -> None:
        counts["statements"] += 1

    def connection(*_args) -> None:
        counts["connections"] += 1

    event.listen(Engine, "before_cursor_execute", statement)
    event.listen(Engine, "engine_connect", connection)
    cpu = time.process_time()
    status = client.get("/v3/auth/tokens", headers=headers).status_code
    counts["cpu_ms"] = round((time.process_time() - cpu) * 1000, 1)
    counts["status"] = status
    print(json.dumps(counts))
    return 0


if __name__ == "__main__":
    sys.exit(main())
