"""One request being handled: the state, the request, whether the state changed, and the helpers every route uses."""

from __future__ import annotations

from dataclasses import dataclass

from tests.jenkins_double.exported import BadTree, Bean, render
from tests.jenkins_double.items import Item
from tests.jenkins_double.security import ITEM_READ
from tests.jenkins_double.state import JenkinsState
from tests.jenkins_double.web import Request, Response, json_response, not_found, oops, page, requires_post


@dataclass
class Ctx:
    """``changed`` is set by handlers that changed the state (the request log reports it)."""

    state: JenkinsState
    req: Request
    changed: bool = False

    @property
    def base(self) -> str:
        return self.req.base_url

    def check(self, permission: str) -> None:
        self.state.security.check(self.req, permission)

    def visible(self, item: Item) -> bool:
        # Job/Read is global here: the double has no per-item authorization (matrix or folder-based).
        return self.state.security.has(self.req, ITEM_READ)

    def require_post(self) -> None:
        if self.req.method != "POST":
            raise requires_post()

    def api(self, rest: list[str], bean: Bean) -> Response:
        if rest in (["api"], ["api", ""]):
            return page("Remote API", "<h1>REST API</h1>")
        if rest not in (["api", "json"], ["api", "json", ""]):
            raise not_found()
        query = self.req.query
        tree = query.get("tree", [None])[0]
        try:
            depth = int(query.get("depth", ["0"])[0] or 0)
            return json_response(render(bean, depth=depth, tree=tree))
        except (ValueError, BadTree) as err:
            raise oops(f"java.lang.IllegalArgumentException: {err}") from err
