"""The agent's snapshot upload: an image deleted meanwhile is ImageGone, other refusals ImageError."""
from __future__ import annotations

import httpx
import pytest

from kumo.compute.agent.imageclient import ImageClient
from kumo.compute.virt.images import ImageError, ImageGone


class FakeAuth:
    """``request`` answers PUT with ``put_status`` and GET with ``get_status`` / ``image_status``."""

    def __init__(self, put_status: int, get_status: int = 200, image_status: str = "queued"):
        self.put_status, self.get_status, self.image_status = put_status, get_status, image_status

    async def request(self, service, method, path, **kw):
        if method == "PUT":
            async for _ in kw["content"]:
                pass
            return httpx.Response(self.put_status, text="<html><body>refused</body></html>")
        return httpx.Response(self.get_status, json={"id": "i1", "status": self.image_status})


@pytest.mark.parametrize("auth", [FakeAuth(404), FakeAuth(410), FakeAuth(409, get_status=404),
                                  FakeAuth(409, image_status="deleted")])
async def test_upload_into_a_deleted_image_is_gone(tmp_path, auth):
    (tmp_path / "snap").write_bytes(b"x" * 10)
    with pytest.raises(ImageGone):
        await ImageClient(auth).upload("i1", tmp_path / "snap")


@pytest.mark.parametrize("auth", [FakeAuth(409, image_status="active"), FakeAuth(413), FakeAuth(500)])
async def test_other_refusals_are_image_errors(tmp_path, auth):
    (tmp_path / "snap").write_bytes(b"x")
    with pytest.raises(ImageError) as info:
        await ImageClient(auth).upload("i1", tmp_path / "snap")
    assert not isinstance(info.value, ImageGone)


async def test_upload_accepted(tmp_path):
    (tmp_path / "snap").write_bytes(b"x")
    await ImageClient(FakeAuth(204)).upload("i1", tmp_path / "snap")
