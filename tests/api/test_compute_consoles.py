"""Compute API: console output, VNC console URLs (os-getVNCConsole, remote-consoles) and console
auth tokens (kumo/compute/api/consoles.py, kumo/compute/consoleauth.py)."""
from __future__ import annotations

import hashlib
import time
from urllib.parse import parse_qs, unquote, urlsplit

import pytest
from sqlalchemy import select
from tempest.lib.api_schema.response.compute.v2_1 import servers as s21
from tempest.lib.api_schema.response.compute.v2_6 import servers as s26
from tempest.lib.api_schema.response.compute.v2_99 import servers as s299

from kumo.compute import consoleauth
from kumo.compute.models import ConsoleAuthToken, open_database
from tests.api.test_compute_fakes import mv, validate
from tests.api.test_compute_servers import boot, env  # noqa: F401  (env is a fixture)

TARGET = {"host": "127.0.0.1", "port": 5901, "internal_access_path": None}


@pytest.fixture
async def cenv(env):  # noqa: F811
    """``env`` whose fake agent answers get_vnc_console with :data:`TARGET` (calls counted)."""
    env.vnc_calls = []

    async def get_vnc_console(instance: dict) -> dict:
        env.vnc_calls.append(instance["uuid"])
        return dict(TARGET)

    env.agent.get_vnc_console = get_vnc_console
    env.server = await boot(env)
    await env.rt.bus.drain()
    return env


def token_of(url: str) -> str:
    """The token of a console URL ``...vnc_lite.html?path=%3Ftoken%3D<token>``."""
    path = parse_qs(urlsplit(url).query)["path"][0]
    assert path.startswith("?token=")
    return path[len("?token="):]


async def remote_console(env, client=None, version="2.6", **body):
    body = body or {"protocol": "vnc", "type": "novnc"}
    return await (client or env.demo).post(f"/v2.1/servers/{env.server}/remote-consoles",
                                           json={"remote_console": body}, headers=mv(version))


async def test_remote_console_url_and_token_details(cenv):
    r = await remote_console(cenv)
    validate(s26.get_remote_consoles, r)
    body = r.json()["remote_console"]
    assert (body["protocol"], body["type"]) == ("vnc", "novnc")
    public = cenv.rt.settings.common.public_host
    assert body["url"].startswith(f"http://{public}:6080/vnc_lite.html?path=%3Ftoken%3D")
    token = token_of(body["url"])
    assert len(token) >= 40 and cenv.vnc_calls == [cenv.server]

    r = await cenv.admin.get(f"/v2.1/os-console-auth-tokens/{token}", headers=mv("2.31"))
    validate(s299.console_auth_tokens, r)
    assert r.json() == {"console": {"instance_uuid": cenv.server, "host": "127.0.0.1", "port": 5901,
                                    "internal_access_path": None}}
    # a new URL, a new token
    assert token_of((await remote_console(cenv)).json()["remote_console"]["url"]) != token


async def test_tokens_are_hashed_at_rest(cenv):
    token = token_of((await remote_console(cenv)).json()["remote_console"]["url"])
    db = open_database(cenv.rt.settings.database_url("compute"))
    try:
        async with db.session() as s:
            rows = (await s.execute(select(ConsoleAuthToken))).scalars().all()
    finally:
        await db.close()
    assert len(rows) == 1
    row = rows[0]
    assert row.token_hash == hashlib.sha256(token.encode()).hexdigest()
    assert token not in repr([getattr(row, c.name) for c in ConsoleAuthToken.__table__.columns])
    assert (row.instance_uuid, row.host, row.port, row.console_type) == (cenv.server, "127.0.0.1", 5901, "novnc")
    assert 590 <= row.expires - time.time() <= 600


async def test_token_details_rules(cenv):
    token = token_of((await remote_console(cenv)).json()["remote_console"]["url"])
    path = f"/v2.1/os-console-auth-tokens/{token}"
    assert (await cenv.demo.get(path, headers=mv("2.31"))).status_code == 403
    r = await cenv.admin.get(path, headers=mv("2.30"))  # before 2.31 only rdp-html5 details
    assert r.status_code == 401 and "not accessible" in r.text
    r = await cenv.admin.get("/v2.1/os-console-auth-tokens/bad" + token, headers=mv("2.31"))
    assert r.status_code == 404 and r.json()["itemNotFound"]["message"] == "Token not found"


async def test_expired_tokens_are_refused_and_purged(cenv, monkeypatch):
    token = token_of((await remote_console(cenv)).json()["remote_console"]["url"])
    later = time.time() + cenv.rt.settings.vnc.token_ttl + 1
    monkeypatch.setattr(consoleauth.time, "time", lambda: later)
    r = await cenv.admin.get(f"/v2.1/os-console-auth-tokens/{token}", headers=mv("2.31"))
    assert r.status_code == 404
    fresh = token_of((await remote_console(cenv)).json()["remote_console"]["url"])
    db = open_database(cenv.rt.settings.database_url("compute"))
    try:
        async with db.session() as s:
            hashes = (await s.execute(select(ConsoleAuthToken.token_hash))).scalars().all()
        assert hashes == [consoleauth.token_hash(fresh)]  # the expired one is gone
        assert (await consoleauth.validate(db, fresh))["port"] == 5901
    finally:
        await db.close()


async def test_token_of_a_deleted_server_is_refused(cenv):
    token = token_of((await remote_console(cenv)).json()["remote_console"]["url"])
    assert (await cenv.demo.delete(f"/v2.1/servers/{cenv.server}")).status_code == 204
    await cenv.rt.bus.drain()
    r = await cenv.admin.get(f"/v2.1/os-console-auth-tokens/{token}", headers=mv("2.31"))
    assert r.status_code == 404


async def test_legacy_vnc_action(cenv):
    action = f"/v2.1/servers/{cenv.server}/action"
    r = await cenv.demo.post(action, json={"os-getVNCConsole": {"type": "novnc"}})
    validate(s21.get_vnc_console, r)
    assert r.json()["console"]["type"] == "novnc"
    assert token_of(r.json()["console"]["url"])
    # removed in 2.6 (remote-consoles replaces it), and remote-consoles does not exist before
    r = await cenv.demo.post(action, json={"os-getVNCConsole": {"type": "novnc"}}, headers=mv("2.6"))
    assert r.status_code == 404
    assert (await remote_console(cenv, version="2.5")).status_code == 404
    for body, message in (({"type": "vnc"}, "is not one of"), ({}, "'type' is a required property"),
                          ({"type": "novnc", "x": 1}, "Additional properties"),
                          ({"type": "xvpvnc"}, "Unavailable console type xvpvnc.")):
        r = await cenv.demo.post(action, json={"os-getVNCConsole": body})
        assert r.status_code == 400 and message in r.json()["badRequest"]["message"], (body, r.text)
    r = await cenv.demo.post(action, json={"os-getSPICEConsole": {"type": "spice-html5"}})
    assert r.status_code == 400 and "Unavailable console type" in r.text


@pytest.mark.parametrize("body, message", [
    ({"protocol": "vnc", "type": "spice-html5"}, "Invalid console type spice-html5"),
    ({"protocol": "spice", "type": "spice-html5"}, "Unavailable console type spice-html5."),
    ({"protocol": "serial", "type": "serial"}, "Unavailable console type serial."),
    ({"protocol": "vnc", "type": "vnc"}, "is not one of"),
    ({"protocol": "telnet", "type": "novnc"}, "is not one of"),
    ({"protocol": "vnc"}, "'type' is a required property"),
    ({"protocol": "vnc", "type": "novnc", "extra": 1}, "Additional properties"),
])
async def test_remote_console_bad_bodies_are_400(cenv, body, message):
    r = await remote_console(cenv, **body)
    assert r.status_code == 400 and message in r.json()["badRequest"]["message"], r.text
    assert cenv.vnc_calls == []  # nothing asked of the agent, nothing stored


async def test_mks_is_in_the_schema_from_2_8_but_unavailable(cenv):
    assert "is not one of" in (await remote_console(cenv, version="2.7", protocol="mks", type="webmks")).text
    r = await remote_console(cenv, version="2.8", protocol="mks", type="webmks")
    assert r.status_code == 400 and "Unavailable console type webmks." in r.text


async def test_remote_console_state_and_access(cenv):
    assert (await remote_console(cenv, client=cenv.reader)).status_code == 403
    assert (await remote_console(cenv, client=cenv.alt)).status_code == 404
    cenv.server = "00000000-0000-0000-0000-000000000000"
    assert (await remote_console(cenv)).status_code == 404


async def test_remote_console_of_a_stopped_server_is_409(cenv):
    r = await cenv.demo.post(f"/v2.1/servers/{cenv.server}/action", json={"os-stop": None})
    assert r.status_code == 202
    await cenv.rt.bus.drain()
    r = await remote_console(cenv)
    assert r.status_code == 409 and "is not ready" in r.text
    assert cenv.vnc_calls == []


async def test_agent_errors_map_to_api_errors(cenv):
    from kumo.compute.virt.base import ConsoleTypeUnavailable, VirtError

    async def unavailable(instance):
        raise ConsoleTypeUnavailable("no VNC")
    cenv.agent.get_vnc_console = unavailable
    assert (await remote_console(cenv)).status_code == 400

    async def not_running(instance):
        raise VirtError("Instance is not running")
    cenv.agent.get_vnc_console = not_running
    assert (await remote_console(cenv)).status_code == 409


async def test_vnc_switched_off_is_400(cenv):
    cenv.rt.settings.vnc.enabled = False
    r = await remote_console(cenv)
    assert r.status_code == 400 and "Unavailable console type novnc." in r.text


async def test_base_url_setting(cenv):
    cenv.rt.settings.vnc.novncproxy_base_url = "https://console.example.org/vnc_auto.html"
    url = (await remote_console(cenv)).json()["remote_console"]["url"]
    assert url.startswith("https://console.example.org/vnc_auto.html?path=%3Ftoken%3D")
    assert unquote(urlsplit(url).query).startswith("path=?token=")


async def test_console_output_lengths(cenv):
    action = f"/v2.1/servers/{cenv.server}/action"
    r = await cenv.demo.post(action, json={"os-getConsoleOutput": {"length": "2"}})
    validate(s21.get_console_output, r)
    assert r.json()["output"].split("\n")[0] == "line 5"
    r = await cenv.demo.post(action, json={"os-getConsoleOutput": {"length": -1}})
    assert r.json()["output"].startswith("line 1\n")
    for bad in (True, "x", -2, 1.5):
        r = await cenv.demo.post(action, json={"os-getConsoleOutput": {"length": bad}})
        assert r.status_code == 400, bad
    assert (await cenv.reader.post(action, json={"os-getConsoleOutput": {}})).status_code == 403

