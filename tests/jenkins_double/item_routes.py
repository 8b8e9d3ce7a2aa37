"""URLs under ``/job/<name>/`` (nested as ``/job/a/job/b/``): items, their config, builds and the queue entry.

Items the user may not read answer 404, as in Jenkins. Actions Jenkins marks ``@RequirePOST`` answer 405 to GET.
Redirects are those Jenkins sends (``createItem`` in form mode -> ``configure``, ``doDelete`` -> the parent,
``enable``/``disable`` -> the job); python-jenkins follows them with a GET, which these pages answer.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from tests.jenkins_double import beans
from tests.jenkins_double.context import Ctx
from tests.jenkins_double.items import ITEM_TYPES, Item
from tests.jenkins_double.queue import Build
from tests.jenkins_double.security import ITEM_BUILD, ITEM_CONFIGURE, ITEM_CREATE, ITEM_DELETE, ITEM_EXTENDED_READ
from tests.jenkins_double.web import (
    Response,
    failure,
    not_found,
    oops,
    page,
    plain_error,
    quoted,
    redirect,
    requires_post,
)

PERMALINKS: dict[str, Callable[[Build], bool]] = {
    "lastBuild": lambda b: True,
    "lastCompletedBuild": lambda b: not b.building,
    "lastSuccessfulBuild": lambda b: b.result in ("SUCCESS", "UNSTABLE"),
    "lastStableBuild": lambda b: b.result == "SUCCESS",
    "lastFailedBuild": lambda b: b.result == "FAILURE",
    "lastUnstableBuild": lambda b: b.result == "UNSTABLE",
    "lastUnsuccessfulBuild": lambda b: b.result not in (None, "SUCCESS"),
}
_DELAY = re.compile(r"(\d+)\s*(ms|msec|s|sec|secs|seconds|min|mins|minutes)?")


def _url(ctx: Ctx, parent: Item | None) -> str:
    return ctx.base + (parent.url_path if parent else "")


def item(ctx: Ctx, parent: Item | None, segments: list[str]) -> Response:
    if not segments or not segments[0]:
        raise not_found()
    found = ctx.state.group(parent).get(segments[0])
    if found is None or not ctx.visible(found):
        raise not_found()
    rest = segments[1:]
    if found.type.folder and rest[:1] == ["job"]:
        return item(ctx, found, rest[1:])
    if found.type.folder and rest == ["createItem"]:
        return create_item(ctx, found)
    return _action(ctx, found, rest)


def create_item(ctx: Ctx, parent: Item | None) -> Response:
    """ItemGroupMixIn.createTopLevelItem: XML body, ``mode=<class>`` or ``mode=copy&from=<name>``."""
    ctx.require_post()
    ctx.check(ITEM_CREATE)
    req, state = ctx.req, ctx.state
    content_type, mode = req.content_type, req.param("mode")
    if content_type is None and mode != "copy":
        raise failure("No Content-Type header set")
    name = req.param("name")
    if name is None:
        raise failure("Query parameter 'name' is required")
    name = state.check_new_name(parent, name)
    if mode == "copy":
        source_name = req.param("from") or ""
        relative = parent is not None and not source_name.startswith("/")
        source = state.lookup(f"{parent.full_name}/{source_name}" if relative and parent else source_name)
        if source is None:
            raise failure("Specify which job to copy" if not source_name else f"No such job: {source_name}")
        created = Item(name, parent, source.type, source.config)
        state.group(parent).add(created)
    elif (content_type or "").split(";")[0].strip() in ("application/xml", "text/xml"):
        state.create_from_xml(parent, name, req.body)
        ctx.changed = True
        return Response(200)
    else:
        if mode is None:
            raise failure("No mode given")
        item_type = next((t for t in ITEM_TYPES.values() if t.cls == mode), None)
        if item_type is None or not state.plugins.is_active(item_type.plugin):
            raise failure(f"No item type {quoted(mode)} is known")
        created = state.create_from_mode(parent, name, item_type)
    ctx.changed = True
    return redirect(ctx.base + created.url_path + "configure")


def _action(ctx: Ctx, target: Item, rest: list[str]) -> Response:
    state, req = ctx.state, ctx.req
    head = rest[0] if rest else ""
    if head == "" and len(rest) <= 1:
        return page(target.full_display_name, f"<h1>{target.full_display_name}</h1>")
    if head == "api":
        return ctx.api(rest, beans.item_bean(target, state.queue, ctx.base, ctx.visible))
    if rest == ["config.xml"]:
        return _config_xml(ctx, target)
    if rest == ["configure"]:
        ctx.check(ITEM_EXTENDED_READ)
        return page(f"{target.full_display_name} Config", "<form method='post' action='configSubmit'></form>")
    if rest == ["doDelete"]:
        ctx.require_post()
        ctx.check(ITEM_DELETE)
        state.delete(target)
        ctx.changed = True
        return redirect(_url(ctx, target.parent))
    if rest == ["confirmRename"] or (rest == ["doRename"] and not target.type.folder):
        ctx.require_post()
        ctx.check(ITEM_CONFIGURE)
        state.rename(target, req.param("newName"))
        ctx.changed = True
        return redirect(ctx.base + target.url_path)
    if rest == ["description"]:  # AbstractItem.doDescription: folders have it too
        if req.method == "GET":
            return Response(200, (target.description or "").encode(), "text/plain;charset=UTF-8")
        description = req.param("description")
        if req.method != "POST" or description is None:
            raise plain_error(400, "Bad Request")
        ctx.check(ITEM_CONFIGURE)
        state.set_description(target, description)
        ctx.changed = True
        return Response(204)
    if target.type.folder:
        raise not_found()
    return _job_action(ctx, target, rest)


def _config_xml(ctx: Ctx, target: Item) -> Response:
    req = ctx.req
    if req.method == "GET":
        ctx.check(ITEM_EXTENDED_READ)
        return Response(200, target.config, "application/xml")
    if req.method == "POST":
        ctx.check(ITEM_CONFIGURE)
        charset = "utf-8"
        for param in (req.content_type or "").split(";")[1:]:
            key, _, value = param.strip().partition("=")
            charset = value.strip('"') if key.lower() == "charset" else charset
        ctx.state.update_config(target, req.body, charset)
        ctx.changed = True
        return Response(200)
    raise plain_error(400, "Bad Request")


def _job_action(ctx: Ctx, job: Item, rest: list[str]) -> Response:
    state = ctx.state
    head = rest[0]
    if rest in (["enable"], ["disable"]):
        ctx.require_post()
        ctx.check(ITEM_CONFIGURE)
        ctx.changed = state.set_disabled(job, head == "disable")
        return redirect(ctx.base + job.url_path)
    if rest in (["build"], ["buildWithParameters"]):
        return _build(ctx, job, with_parameters=head == "buildWithParameters")
    build = _find_build(job, head)
    if build is None:
        raise not_found()
    tail = rest[1:]
    if tail in ([], [""]):
        return page(f"{job.full_display_name} #{build.number}", f"<h1>Build #{build.number}</h1>")
    if tail == ["consoleText"]:
        lines = [f"Started by user {build.started_by or 'anonymous'}"]
        if build.result is not None:
            lines.append(f"Finished: {build.result}")
        return Response(200, ("\n".join(lines) + "\n").encode(), "text/plain;charset=utf-8")
    return ctx.api(tail, beans.build_bean(build, ctx.base))


def _find_build(job: Item, segment: str) -> Build | None:
    if segment.isdigit():
        return next((b for b in job.builds if b.number == int(segment)), None)
    test = PERMALINKS.get(segment)
    return next((b for b in reversed(job.builds) if test(b)), None) if test else None


def _delay(ctx: Ctx) -> float | None:
    raw = ctx.req.param("delay")
    if raw is None:
        return None
    match = _DELAY.fullmatch(raw.strip())
    if match is None:
        raise failure(f"Invalid time duration value: {raw}")
    unit = match.group(2) or "sec"
    scale = 0.001 if unit.startswith("ms") else 60.0 if unit.startswith("min") else 1.0
    return int(match.group(1)) * scale


def _build(ctx: Ctx, job: Item, *, with_parameters: bool) -> Response:
    """ParameterizedJobMixIn.doBuild / doBuildWithParameters (201 and the queue item's URL)."""
    state, req = ctx.state, ctx.req
    delay = _delay(ctx)
    definitions = job.parameters
    if not with_parameters and job.disabled:
        raise plain_error(409, f"java.io.IOException: {job.full_name} is not buildable")
    ctx.check(ITEM_BUILD)
    if req.method != "POST":
        raise requires_post()
    if with_parameters and job.disabled:
        raise plain_error(409, f"java.io.IOException: {job.full_name} is not buildable!")
    if with_parameters and definitions is None:
        raise oops("java.lang.IllegalStateException: This build is not parameterized!")
    if not with_parameters and definitions is not None:
        raise plain_error(400, "This page expects a form submission")
    values: list[tuple[str, str]] | None = None
    if definitions is not None:  # StringParameterDefinition.createValue: the request's value, else the default
        values = [(name, value if (value := req.param(name)) is not None else default) for name, default in definitions]
    waiting = state.queue.waiting_for(job)
    existed = waiting is not None and waiting.parameters == values
    queued = state.queue.schedule(job, delay=delay, parameters=values, user=req.user)
    ctx.changed = not existed
    location = f"{ctx.base}queue/item/{queued.id}/"
    if existed and with_parameters:
        return redirect(location, 303)
    return redirect(location, 201)
