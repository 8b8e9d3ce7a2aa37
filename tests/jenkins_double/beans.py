"""The exported beans the remote API renders: Jenkins itself, folders, jobs, builds, queue items, users.

Property names, ``_class`` values and visibilities follow Jenkins 2.479.x core, cloudbees-folder and
workflow-job (``name``/``url`` 999, ``color`` and build ``number``/``url`` 2, ``allBuilds`` -2: only via ``tree``).
Values that need work are callables, computed only when the pruner asks for them.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from tests.jenkins_double.exported import Bean, Prop
from tests.jenkins_double.items import FREESTYLE, Item, ItemGroup
from tests.jenkins_double.queue import Build, Queue, QueueItem

_COLORS = {"SUCCESS": "blue", "UNSTABLE": "yellow", "FAILURE": "red", "ABORTED": "aborted", "NOT_BUILT": "notbuilt"}
Visible = Callable[[Item], bool]


def color(item: Item) -> str:
    building = bool(item.builds) and item.builds[-1].building
    completed = [build for build in item.builds if not build.building]
    if item.disabled:
        base = "disabled"
    else:
        base = _COLORS.get(completed[-1].result or "", "notbuilt") if completed else "notbuilt"
    return f"{base}_anime" if building else base


def _view(name: str, url: str, jobs: Callable[[], list[Bean]]) -> Bean:
    return Bean(
        "hudson.model.AllView",
        [
            Prop("description", None),
            Prop("jobs", jobs),
            Prop("name", name, 2),
            Prop("property", []),
            Prop("url", url, 2),
        ],
    )


def _children(group: ItemGroup, queue: Queue, base: str, visible: Visible) -> Callable[[], list[Bean]]:
    return lambda: [item_bean(child, queue, base, visible) for child in group.sorted() if visible(child)]


def root_bean(group: ItemGroup, queue: Queue, base: str, visible: Visible, use_crumbs: bool) -> Bean:
    jobs = _children(group, queue, base, visible)
    view = _view("all", base, jobs)
    props = [
        Prop("assignedLabels", [Bean("hudson.model.labels.LabelAtom", [Prop("name", "built-in", 2)])]),
        Prop("mode", "NORMAL"),
        Prop("nodeDescription", "the Jenkins controller's built-in node"),
        Prop("nodeName", ""),
        Prop("numExecutors", 2),
        Prop("description", None),
        Prop("jobs", jobs),
        Prop("overallLoad", Bean("hudson.model.OverallLoadStatistics")),
        Prop("primaryView", view),
        Prop("quietDownReason", None),
        Prop("quietingDown", False),
        Prop("slaveAgentPort", -1),
        Prop("unlabeledLoad", Bean("jenkins.model.UnlabeledLoadStatistics")),
        Prop("url", base),
        Prop("useCrumbs", use_crumbs),
        Prop("useSecurity", True),
        Prop("views", [view]),
    ]
    return Bean("hudson.model.Hudson", props)


def item_bean(item: Item, queue: Queue, base: str, visible: Visible) -> Bean:
    props = [
        Prop("actions", []),
        Prop("description", item.description),
        Prop("displayName", item.name),
        Prop("displayNameOrNull", None),
        Prop("fullDisplayName", item.full_display_name),
        Prop("fullName", item.full_name),
        Prop("name", item.name, 999),
        Prop("url", base + item.url_path, 999),
    ]
    if item.type.folder:
        jobs = _children(item.group, queue, base, visible)
        view = _view("All", base + item.url_path, jobs)
        props += [Prop("healthReport", []), Prop("jobs", jobs), Prop("primaryView", view), Prop("views", [view])]
        return Bean(item.type.cls, props)

    def build_at(pick: Callable[[list[Build]], Build | None]) -> Callable[[], Bean | None]:
        def value() -> Bean | None:
            build = pick(item.builds)
            return build_bean(build, base) if build else None

        return value

    def last(result: Callable[[Build], bool]) -> Callable[[], Bean | None]:
        return build_at(lambda builds: next((b for b in reversed(builds) if result(b)), None))

    waiting = queue.waiting_for(item)
    props += [
        Prop("buildable", not item.disabled),
        Prop("builds", lambda: [build_bean(b, base) for b in reversed(item.builds[-100:])]),
        Prop("allBuilds", lambda: [build_bean(b, base) for b in reversed(item.builds)], -2),
        Prop("color", lambda: color(item), 2),
        Prop("firstBuild", build_at(lambda builds: builds[0] if builds else None)),
        Prop("healthReport", []),
        Prop("inQueue", waiting is not None),
        Prop("keepDependencies", False),
        Prop("lastBuild", build_at(lambda builds: builds[-1] if builds else None)),
        Prop("lastCompletedBuild", last(lambda b: not b.building)),
        Prop("lastFailedBuild", last(lambda b: b.result == "FAILURE")),
        Prop("lastStableBuild", last(lambda b: b.result == "SUCCESS")),
        Prop("lastSuccessfulBuild", last(lambda b: b.result in ("SUCCESS", "UNSTABLE"))),
        Prop("lastUnstableBuild", last(lambda b: b.result == "UNSTABLE")),
        Prop("lastUnsuccessfulBuild", last(lambda b: b.result not in (None, "SUCCESS"))),
        Prop("nextBuildNumber", item.next_build_number),
        Prop("property", lambda: [Bean(cls) for cls in item.property_classes()]),
        Prop("queueItem", lambda: queue_item_bean(waiting, queue, base, visible) if waiting else None),
        Prop("concurrentBuild", "DisableConcurrentBuildsJobProperty" not in "".join(item.property_classes())),
        Prop("disabled", item.disabled),
    ]
    if item.type is FREESTYLE:
        props += [Prop("labelExpression", None), Prop("scm", Bean("hudson.scm.NullSCM"))]
    else:
        props.append(Prop("resumeBlocked", False))
    return Bean(item.type.cls, props)


def _cause_action(user: str | None) -> Bean:
    who = user or "anonymous"
    cause = Bean(
        "hudson.model.Cause$UserIdCause",
        [Prop("shortDescription", f"Started by user {who}", 3), Prop("userId", user, 3), Prop("userName", who, 3)],
    )
    return Bean("hudson.model.CauseAction", [Prop("causes", [cause], 2)])


def _actions(parameters: list[tuple[str, str]] | None, user: str | None) -> list[Bean]:
    actions = [_cause_action(user)]
    if parameters is not None:
        values = [
            Bean("hudson.model.StringParameterValue", [Prop("name", name, 3), Prop("value", value, 3)])
            for name, value in parameters
        ]
        actions.insert(0, Bean("hudson.model.ParametersAction", [Prop("parameters", values, 2)]))
    return actions


def build_bean(build: Build, base: str) -> Bean:
    job = build.job
    cls = "hudson.model.FreeStyleBuild" if job.type is FREESTYLE else "org.jenkinsci.plugins.workflow.job.WorkflowRun"
    index = job.builds.index(build)
    before = job.builds[index - 1] if index > 0 else None
    after = job.builds[index + 1] if index + 1 < len(job.builds) else None
    props = [
        Prop("actions", _actions(build.parameters, build.started_by)),
        Prop("artifacts", []),
        Prop("building", build.building),
        Prop("description", None),
        Prop("displayName", f"#{build.number}"),
        Prop("duration", build.duration),
        Prop("estimatedDuration", 1),
        Prop("executor", None),
        Prop("fullDisplayName", f"{job.full_display_name} #{build.number}"),
        Prop("id", str(build.number)),
        Prop("keepLog", False),
        Prop("number", build.number, 2),
        Prop("queueId", build.queue_id),
        Prop("result", build.result),
        Prop("timestamp", build.timestamp),
        Prop("url", f"{base}{job.url_path}{build.number}/", 2),
        Prop("changeSets", []),
        Prop("culprits", []),
        Prop("inProgress", build.building),
        Prop("nextBuild", lambda: build_bean(after, base) if after else None),
        Prop("previousBuild", lambda: build_bean(before, base) if before else None),
    ]
    return Bean(cls, props)


def queue_item_bean(item: QueueItem, queue: Queue, base: str, visible: Visible) -> Bean:
    params = "".join(f"\n(StringParameterValue) {name}='{value}'" for name, value in item.parameters or [])
    props = [
        Prop("actions", _actions(item.parameters, item.started_by)),
        Prop("blocked", False),
        Prop("buildable", False),
        Prop("id", item.id),
        Prop("inQueueSince", item.in_queue_since),
        Prop("params", params),
        Prop("stuck", False),
        Prop("task", lambda: item_bean(item.job, queue, base, visible)),
        Prop("url", f"queue/item/{item.id}/"),
    ]
    if item.waiting:
        left = max(0.0, item.buildable_at - time.monotonic())
        props += [
            Prop("why", f"In the quiet period. Expires in {left:.1f} sec"),
            Prop("timestamp", item.in_queue_since),
        ]
        return Bean("hudson.model.Queue$WaitingItem", props)
    executable = build_bean(item.build, base) if item.build else None
    props += [Prop("why", None), Prop("cancelled", item.cancelled), Prop("executable", executable)]
    return Bean("hudson.model.Queue$LeftItem", props)


def queue_bean(queue: Queue, base: str, visible: Visible) -> Bean:
    waiting = [queue_item_bean(item, queue, base, visible) for item in queue.items.values() if item.waiting]
    return Bean("hudson.model.Queue", [Prop("discoverableItems", []), Prop("items", waiting)])


def whoami_bean(user: str | None) -> Bean:
    props = [
        Prop("anonymous", user is None),
        Prop("authenticated", True),
        Prop("authorities", ["anonymous"] if user is None else ["authenticated"]),
        Prop("name", user or "anonymous"),
    ]
    return Bean("hudson.security.WhoAmI", props)


def user_bean(user: str, full_name: str, base: str) -> Bean:
    props = [
        Prop("absoluteUrl", f"{base}user/{user.lower()}", 999),
        Prop("description", None),
        Prop("fullName", full_name or user, 999),
        Prop("id", user),
        Prop("property", []),
    ]
    return Bean("hudson.model.User", props)
