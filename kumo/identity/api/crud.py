"""The standard five routes of a keystone resource (Identity API v3 conventions).

``GET/POST /v3/<collection>`` and ``GET/PATCH/DELETE /v3/<collection>/{<param>}``: a list answers
``{"<plural>": [view...], "links": {self, previous, next}}`` (200), a create ``{"<singular>": view}``
(201), a show or update ``{"<singular>": view}`` (200), a delete 204. Policy: keystone's rule
names ``identity:list_<plural>``, ``identity:create_<singular>``, ``identity:get_<singular>``,
``identity:update_<singular>``, ``identity:delete_<singular>``, enforced before the service call.
Errors are the service's (404 unknown id, 400 bad body, 409 duplicates).
"""
from __future__ import annotations

from typing import Any, Callable

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from kumo.identity import views
from kumo.identity.api.common import base, body, enforce, json, no_content

#: A view: ``(row, root) -> dict`` where root is ``http://host:port``.
View = Callable[[Any, str], dict]


def routes(path: str, param: str, *, list=None, create=None, show=None, update=None, delete=None,
           head: bool = False) -> list[Route]:
    """The route table of a resource at ``path`` with item parameter ``param``; handlers that are
    None get no route. ``head`` lets ``show`` also answer HEAD."""
    item = f"{path}/{{{param}}}"
    table = [(path, list, ["GET"]), (path, create, ["POST"]), (item, show, ["GET", "HEAD"] if head else ["GET"]),
             (item, update, ["PATCH"]), (item, delete, ["DELETE"])]
    return [Route(p, handler, methods=methods) for p, handler, methods in table if handler is not None]


def standard(path: str, param: str, *, singular: str, plural: str, service: Callable[[Request], Any],
             view: View, create_schema, update_schema, noun: str, nouns: str, filters: tuple[str, ...] = (),
             head: bool = False, **overrides) -> list[Route]:
    """The five routes of a resource whose policy needs no row target.

    The service (``service(request)``) has ``list_<nouns>(**filters)``, ``create_<noun>(data)``,
    ``get_<noun>(id)``, ``update_<noun>(id, data)`` and ``delete_<noun>(id)``; ``filters`` are the
    query parameters passed to the list. ``overrides`` (``list=``, ``create=``...) replace a handler.
    """
    collection = path.removeprefix("/v3/")

    def action(verb: str) -> str:
        return f"identity:{verb}_{plural if verb == 'list' else singular}"

    async def list_(request: Request):
        enforce(request, action("list"))
        query = {k: request.query_params[k] for k in filters if k in request.query_params}
        found = await getattr(service(request), f"list_{nouns}")(**query)
        return listed(request, plural, found, view, collection)

    async def create(request: Request):
        enforce(request, action("create"))
        data = await body(request, singular, create_schema)
        return shown(request, singular, await getattr(service(request), f"create_{noun}")(data), view, 201)

    async def show(request: Request):
        enforce(request, action("get"))
        row = await getattr(service(request), f"get_{noun}")(request.path_params[param])
        if request.method == "HEAD":
            return Response(status_code=200)
        return shown(request, singular, row, view)

    async def update(request: Request):
        enforce(request, action("update"))
        data = await body(request, singular, update_schema)
        row = await getattr(service(request), f"update_{noun}")(request.path_params[param], data)
        return shown(request, singular, row, view)

    async def delete(request: Request):
        enforce(request, action("delete"))
        await getattr(service(request), f"delete_{noun}")(request.path_params[param])
        return no_content()

    handlers = {"list": list_, "create": create, "show": show, "update": update, "delete": delete}
    return routes(path, param, head=head, **{**handlers, **overrides})


def association(path: str, service: Callable[[Request], Any], params: tuple[str, ...], *,
                add: tuple[str, str], check: tuple[str, str] | None, remove: tuple[str, str],
                show=None) -> list[Route]:
    """PUT / GET+HEAD / DELETE on ``path`` linking two resources, each answering 204.

    ``add``, ``check`` and ``remove`` are ``(policy action, service method)``; the method is called
    with the path parameters ``params`` as keywords (404 from the service when not linked).
    ``show`` replaces the GET/HEAD handler (a link that answers with a body).
    """
    def step(action: str, method: str):
        async def handler(request: Request):
            enforce(request, action)
            await getattr(service(request), method)(**{k: request.path_params[k] for k in params})
            return no_content()
        return handler

    get = show if show is not None else step(*check)
    return [Route(path, step(*add), methods=["PUT"]), Route(path, get, methods=["GET", "HEAD"]),
            Route(path, step(*remove), methods=["DELETE"])]


def shown(request: Request, key: str, row, view: View, status: int = 200):
    """``{key: view(row)}`` with ``status``."""
    return json({key: view(row, base(request))}, status=status)


def listed(request: Request, key: str, rows, view: View, collection: str):
    """``{key: [view...], "links": ...}`` for the collection at ``/v3/<collection>``."""
    root = base(request)
    return json({key: [view(r, root) for r in rows], "links": views.collection_links(root, collection)})
