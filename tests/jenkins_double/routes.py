"""URL dispatch for everything outside ``/job/...``: the root, security endpoints, queue, plugins, script console.

Order of checks per request, as in Jenkins' filter chain: authentication (401) -> CSRF crumb on POST (403) ->
Overall/Read unless the path is always readable (``whoAmI``, ``login``, ...) -> the URL's own permission -> 404 for
anything the double does not know. Item URLs are handed to :mod:`tests.jenkins_double.item_routes`.
"""

from __future__ import annotations

from urllib.parse import unquote

from tests.jenkins_double import beans, item_routes, xmlconfig
from tests.jenkins_double.context import Ctx
from tests.jenkins_double.exported import Bean, Prop
from tests.jenkins_double.security import ADMINISTER, CRUMB_FIELD, READ, SYSTEM_READ
from tests.jenkins_double.web import (
    HttpError,
    Response,
    not_found,
    oops,
    page,
    plain_error,
    redirect,
)

ALWAYS_READABLE = frozenset({"whoAmI", "login", "loginError", "logout", "404", "oops", "error", "accessDenied"})


def split_path(path: str) -> list[str]:
    """``/job/a%20b/api/json`` -> ``["job", "a b", "api", "json"]``; ``/`` -> ``[""]``."""
    return [unquote(segment) for segment in path.split("/")[1:]] or [""]


def dispatch(ctx: Ctx) -> Response:
    state, req = ctx.state, ctx.req
    state.security.authenticate(req)
    state.security.check_crumb(req)
    segments = split_path(req.path)
    head, rest = segments[0], segments[1:]
    if head in ALWAYS_READABLE:
        return _always_readable(ctx, head, rest)
    ctx.check(READ)
    state.queue.process()
    if head == "job":
        return item_routes.item(ctx, None, rest)
    if head == "createItem":
        return item_routes.create_item(ctx, None)
    handler = _ROOT.get(head)
    if handler is None:
        raise not_found()
    return handler(ctx, rest)


def _always_readable(ctx: Ctx, head: str, rest: list[str]) -> Response:
    if head == "whoAmI":
        if rest and rest[0] == "api":
            return ctx.api(rest, beans.whoami_bean(ctx.req.user))
        return page("Who Am I", f"<h1>Who Am I?</h1><p>Name: {ctx.req.user or 'anonymous'}</p>")
    if head == "404":
        raise not_found()
    return page(head, f"<h1>{head}</h1>")


def _root_page(ctx: Ctx, rest: list[str]) -> Response:
    return page("Dashboard", "<h1>Welcome to Jenkins!</h1>")


def _root_api(ctx: Ctx, rest: list[str]) -> Response:
    state = ctx.state
    bean = beans.root_bean(state.root, state.queue, ctx.base, ctx.visible, state.security.use_crumbs)
    return ctx.api(["api", *rest], bean)


def _crumb_issuer(ctx: Ctx, rest: list[str]) -> Response:
    security = ctx.state.security
    if not security.use_crumbs:
        raise not_found()
    bean = Bean(
        "hudson.security.csrf.DefaultCrumbIssuer",
        [Prop("crumb", security.crumb_for(ctx.req)), Prop("crumbRequestField", CRUMB_FIELD)],
    )
    return ctx.api(rest, bean)


def _me(ctx: Ctx, rest: list[str]) -> Response:
    user = ctx.req.user
    if user is None:
        raise HttpError(page("Authentication required", "<p>/me is not available when not logged in</p>", status=403))
    full_name = ctx.state.security.users[user].full_name
    return ctx.api(rest, beans.user_bean(user, full_name, ctx.base))


def _plugin_manager(ctx: Ctx, rest: list[str]) -> Response:
    ctx.check(SYSTEM_READ)
    plugins = ctx.state.plugins
    if rest and rest[0] == "api":
        return ctx.api(rest, plugins.bean())
    if rest == ["installNecessaryPlugins"]:
        ctx.require_post()
        ctx.check(ADMINISTER)
        try:
            plugins.install_from_xml(ctx.req.body)
        except xmlconfig.MalformedXml as err:
            raise oops(f"java.io.IOException: Failed to parse XML\nCaused by: {err}") from err
        ctx.changed = True
        return redirect(ctx.base + "pluginManager/updates/")
    if rest in ([], [""], ["updates", ""], ["updates"], ["installed"], ["available"]):
        return page("Plugins", "<h1>Plugins</h1>")
    raise not_found()


def _update_center(ctx: Ctx, rest: list[str]) -> Response:
    ctx.check(ADMINISTER)
    return page("Update Center", "<h1>Download progress</h1>")


def _script_text(ctx: Ctx, rest: list[str]) -> Response:
    if rest not in ([], [""]):
        raise not_found()
    ctx.check(ADMINISTER)
    script = ctx.req.param("script")
    if script is None:
        return Response(200, b"", "text/plain;charset=UTF-8")
    if ctx.req.method != "POST":
        raise plain_error(405, "requires POST")
    ctx.changed = True  # a script may change anything; the double cannot tell
    output = ctx.state.scripts.run(script, ctx.req.user)
    return Response(200, output.encode("utf-8"), "text/plain;charset=UTF-8")


def _queue(ctx: Ctx, rest: list[str]) -> Response:
    queue = ctx.state.queue
    if rest and rest[0] == "api":
        return ctx.api(rest, beans.queue_bean(queue, ctx.base, ctx.visible))
    if rest == ["cancelItem"]:
        ctx.require_post()
        number = ctx.req.param("id") or ""
        item = queue.items.get(int(number)) if number.isdigit() else None
        if item is None or not item.waiting or not ctx.visible(item.job):
            raise plain_error(404, f"Provided id ({number}) not found")
        item.cancelled = True
        ctx.changed = True
        return Response(204)
    if len(rest) >= 2 and rest[0] == "item" and rest[1].isdigit():
        item = queue.items.get(int(rest[1]))
        if item is None or not ctx.visible(item.job):
            raise not_found()
        if rest[2:] in ([], [""]):
            return page(f"Queue item {item.id}", f"<h1>{item.job.full_name}</h1>")
        return ctx.api(rest[2:], beans.queue_item_bean(item, queue, ctx.base, ctx.visible))
    if rest in ([], [""]):
        return page("Build Queue", "<h1>Build Queue</h1>")
    raise not_found()


_ROOT = {
    "": _root_page,
    "api": _root_api,
    "crumbIssuer": _crumb_issuer,
    "me": _me,
    "pluginManager": _plugin_manager,
    "updateCenter": _update_center,
    "scriptText": _script_text,
    "queue": _queue,
}
