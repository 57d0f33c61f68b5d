"""The shared layer: settings, bus, error bodies, the app factory's auth and request ids."""
from __future__ import annotations

import asyncio

import httpx
import pytest
from starlette.routing import Route
from starlette.responses import JSONResponse

from sqlalchemy import String, select
from sqlalchemy.orm import Mapped, mapped_column

from kumo import config
from kumo.common.db import Database, declarative_base
from kumo.common.api import context, create_app
from kumo.common.api.errors import BadRequest, NotFound, render
from kumo.common.bus import MemoryBus, NoListener, RemoteError
from tests.fakes import FakeValidator


def test_settings_file_and_env_override(tmp_path):
    path = tmp_path / "kumo.toml"
    path.write_text('[compute]\nvirt_type = "kvm"\nport = 18774\n[common]\nstate_dir = "/srv/k"\n')
    s = config.load(str(path), environ={"KUMO_COMPUTE__PORT": "9999"})
    assert s.compute.virt_type == "kvm"
    assert s.compute.port == 9999
    assert s.database_url("compute") == "sqlite+aiosqlite:////srv/k/compute.db"
    assert s.endpoint("image") == "http://127.0.0.1:9292"


def test_settings_roundtrip_through_toml(tmp_path):
    s = config.load("/nonexistent", environ={})
    s.service_user.password = 'p"w\\x'
    path = tmp_path / "k.toml"
    path.write_text(config.dump_toml(s))
    again = config.load(str(path), environ={})
    assert again == s


def test_changed_only_toml_keeps_just_the_changes(tmp_path):
    s = config.load("/nonexistent", environ={})
    s.service_user.password = "secret"
    s.compute.driver = "fake"
    text = config.dump_toml(s, changed_only=True)
    assert 'password = "secret"' in text and 'driver = "fake"' in text
    assert "[image]" not in text and "port =" not in text
    path = tmp_path / "k.toml"
    path.write_text(text)
    assert config.load(str(path), environ={}) == s


@pytest.mark.parametrize("style,status,key", [
    ("nova", 404, "itemNotFound"), ("nova", 400, "badRequest"), ("nova", 409, "conflictingRequest"),
    ("keystone", 401, "error"), ("neutron", 404, "NeutronError"),
])
def test_error_bodies(style, status, key):
    resp = render(style, status, "boom", "ThingNotFound")
    assert resp.status_code == status
    body = resp.body.decode()
    assert key in body and "boom" in body


def test_glance_error_is_plain_text():
    resp = render("glance", 404, "No image found with ID x")
    assert resp.status_code == 404
    assert resp.body.decode().startswith("404 Not Found")


class Echo:
    def __init__(self):
        self.seen = []

    async def add(self, a, b):
        return a + b

    async def record(self, value):
        self.seen.append(value)

    async def fail(self):
        raise ValueError("nope")


async def test_bus_call_cast_fanout_and_errors():
    bus = MemoryBus()
    one, two = Echo(), Echo()
    await bus.serve("calc", one, server="n1")
    await bus.serve("calc", two, server="n2")
    assert await bus.call("calc.n1", "add", a=2, b=3) == 5
    await bus.cast("calc.n2", "record", value={"x": 1})
    await bus.fanout("calc", "record", value="all")
    await bus.drain()
    assert two.seen == [{"x": 1}, "all"] and one.seen == ["all"]
    with pytest.raises(RemoteError) as err:
        await bus.call("calc.n1", "fail")
    assert err.value.kind == "ValueError"
    with pytest.raises(NoListener):
        await bus.call("nobody", "add", a=1, b=1)
    with pytest.raises(TypeError):  # arguments must be JSON, as over a broker
        await bus.call("calc.n1", "add", a=object(), b=1)


async def test_bus_notifications_by_prefix():
    bus = MemoryBus()
    got = []

    async def sub(event, payload):
        got.append((event, payload["id"]))

    bus.subscribe("compute.instance.", sub)
    await bus.notify("compute.instance.create.end", {"id": 1})
    await bus.notify("image.upload", {"id": 2})
    await bus.drain()
    assert got == [("compute.instance.create.end", 1)]


def _app():
    async def who(request):
        ctx = context(request)
        return JSONResponse({"user": ctx.user_name, "project": ctx.project_id, "admin": ctx.is_admin})

    async def missing(request):
        raise NotFound("Thing x could not be found.")

    async def bad(request):
        raise BadRequest("bad thing")

    async def crash(request):
        raise RuntimeError("internal detail that must not leak")

    routes = [Route("/who", who), Route("/missing", missing), Route("/bad", bad), Route("/crash", crash),
              Route("/", lambda r: JSONResponse({"versions": []}))]
    return create_app(style="nova", routes=routes, validator=FakeValidator(),
                      public=lambda m, p: p == "/", request_id_headers=("x-compute-request-id",))


async def test_app_auth_errors_and_request_ids():
    app = _app()
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as c:
        r = await c.get("/")
        assert r.status_code == 200 and r.headers["x-openstack-request-id"].startswith("req-")
        assert r.headers["x-compute-request-id"] == r.headers["x-openstack-request-id"]
        r = await c.get("/who")
        assert r.status_code == 401 and "unauthorized" in r.json()
        r = await c.get("/who", headers={"X-Auth-Token": "bogus"})
        assert r.status_code == 401
        r = await c.get("/who", headers={"X-Auth-Token": "admin-token"})
        assert r.json()["user"] == "admin" and r.json()["admin"] is True
        h = {"X-Auth-Token": "demo-token"}
        assert (await c.get("/missing", headers=h)).json() == {
            "itemNotFound": {"code": 404, "message": "Thing x could not be found."}}
        assert (await c.get("/bad", headers=h)).status_code == 400
        assert (await c.get("/nowhere", headers=h)).json()["itemNotFound"]["code"] == 404
        r = await c.get("/crash", headers=h)
        assert r.status_code == 500 and "internal detail" not in r.text


async def test_database_session_commits_and_rolls_back(tmp_path):
    Base = declarative_base()

    class Thing(Base):
        __tablename__ = "things"
        id: Mapped[str] = mapped_column(String(36), primary_key=True)

    db = Database(f"sqlite+aiosqlite:///{tmp_path}/t.db", Base.metadata)
    await db.create_schema()
    async with db.session() as s:
        s.add(Thing(id="a"))
    with pytest.raises(RuntimeError):
        async with db.session() as s:
            s.add(Thing(id="b"))
            await s.flush()
            raise RuntimeError("undo")
    async with db.session() as s:
        ids = (await s.scalars(select(Thing.id))).all()
    assert ids == ["a"]
    await db.close()
