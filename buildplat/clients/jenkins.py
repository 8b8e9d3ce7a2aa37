"""A small Jenkins REST client for the seed job: folder listings, config.xml, plugins, the script console.

Written on requests rather than python-jenkins because the seed job's cost is counted in requests: python-jenkins
checks existence before and after every create (three requests where one does), and cannot list a folder's
descriptions in one call. Every URL segment that comes from a name is percent-encoded; every failure becomes a
:class:`~buildplat.errors.ServiceError` (``retryable`` for timeouts, refused connections, 429 and 5xx, which are
retried here first after each delay of ``backoff``, honouring Retry-After).
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import requests

from buildplat.errors import ServiceError

SERVICE = "Jenkins"
DEFAULT_BACKOFF: tuple[float, ...] = (0.5, 1.0, 2.0)
_RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
_XML = "application/xml; charset=utf-8"
# One listing returns every job's stored marker: this is what keeps a no-change sync at one request.
_LISTING_TREE = "description,jobs[name,description,color]"
# urllib3 words the reason as "...: [Errno 111] Connection refused')"; only that part is shown.
_ERRNO = re.compile(r"\[Errno -?\d+\] ([^'\")\]]+)")


class ItemExists(ServiceError):
    """createItem refused: an item of that name is already there (another seed job, or a person, was first)."""


class ItemMissing(ServiceError):
    """The job or folder is not there (404)."""


@dataclass(frozen=True)
class JobEntry:
    name: str
    description: str | None
    color: str | None  # "disabled" for a disabled job; None for folders and other non-buildable items

    @property
    def disabled(self) -> bool:
        return self.color == "disabled"


@dataclass(frozen=True)
class FolderListing:
    description: str | None
    jobs: tuple[JobEntry, ...]


def item_path(folder: str | None, name: str | None = None) -> str:
    """``job/<folder>/job/<name>/``, every segment percent-encoded (names never reach a URL raw)."""
    parts = [segment for segment in (folder, name) if segment]
    return "".join(f"job/{quote(part, safe='')}/" for part in parts)


class JenkinsClient:
    """One Jenkins, shared by worker threads: at most ``concurrency`` requests are in flight at once."""

    def __init__(
        self,
        url: str,
        user: str | None = None,
        token: str | None = None,
        *,
        concurrency: int = 4,
        timeout: float = 60.0,
        backoff: Sequence[float] = DEFAULT_BACKOFF,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.url = url.rstrip("/") + "/"
        self._auth = (user, token) if user and token else None
        self._timeout = timeout
        self._backoff = tuple(backoff)
        self._sleep = sleep
        self._slots = threading.BoundedSemaphore(concurrency)
        self._local = threading.local()
        self._lock = threading.Lock()
        self.requests = 0
        self.writes = 0

    # -- reading ------------------------------------------------------------------------------------------------
    def folder(self, folder: str) -> FolderListing | None:
        """The folder's description and every item's name, description and colour; None if there is no folder."""
        response = self._call("GET", item_path(folder) + "api/json", params={"tree": _LISTING_TREE}, missing_ok=True)
        if response is None:
            return None
        data = _json(response)
        jobs = tuple(
            JobEntry(str(job["name"]), job.get("description"), job.get("color")) for job in data.get("jobs") or ()
        )
        return FolderListing(data.get("description"), jobs)

    def get_config(self, folder: str | None, name: str) -> str | None:
        response = self._call("GET", item_path(folder, name) + "config.xml", missing_ok=True)
        if response is None:
            return None
        response.encoding = response.encoding or "utf-8"
        return response.text

    def plugins(self) -> dict[str, bool]:
        """Installed plugins: short name -> active."""
        response = self._call("GET", "pluginManager/api/json", params={"tree": "plugins[shortName,active]"})
        assert response is not None
        return {str(p["shortName"]): bool(p.get("active", True)) for p in _json(response).get("plugins", ())}

    # -- writing ------------------------------------------------------------------------------------------------
    def create_item(self, folder: str | None, name: str, config_xml: str) -> None:
        """Create a job (or a folder) from its config.xml; :class:`ItemExists` if the name is taken."""
        self._call(
            "POST",
            item_path(folder) + "createItem",
            params={"name": name},
            data=config_xml.encode("utf-8"),
            headers={"Content-Type": _XML},
            write=True,
            exists_check=True,
        )

    def update_item(self, folder: str | None, name: str, config_xml: str) -> None:
        self._call(
            "POST",
            item_path(folder, name) + "config.xml",
            data=config_xml.encode("utf-8"),
            headers={"Content-Type": _XML},
            write=True,
        )

    def rename_item(self, folder: str | None, name: str, new_name: str) -> None:
        """Rename a job in place (``AbstractItem.doConfirmRename``), its builds with it.

        :class:`ItemMissing` when there is no such job, :class:`ItemExists` when ``new_name`` is taken; Jenkins
        refuses (400) to rename a job while it is building, which the next cycle tries again.
        """
        self._call(
            "POST",
            item_path(folder, name) + "confirmRename",
            params={"newName": new_name},
            write=True,
            exists_check=True,
        )

    def set_description(self, folder: str | None, name: str, description: str) -> None:
        """Change an item's description only (``AbstractItem.doDescription``); the rest of its config stays."""
        self._call("POST", item_path(folder, name) + "description", data={"description": description}, write=True)

    def delete_item(self, folder: str | None, name: str) -> None:
        """Delete a job; a job that is already gone counts as deleted."""
        self._call("POST", item_path(folder, name) + "doDelete", write=True, missing_ok=True)

    def build_job(self, folder: str | None, name: str, parameters: dict[str, str] | None = None) -> str | None:
        """Queue a build of a job (``buildWithParameters`` when ``parameters`` is given, even empty: the job's
        defaults fill the rest); returns the queue item's URL when Jenkins names one."""
        action = "build" if parameters is None else "buildWithParameters"
        response = self._call("POST", item_path(folder, name) + action, params=parameters or None, write=True)
        assert response is not None
        return response.headers.get("Location")

    def install_plugins(self, names: Sequence[str]) -> None:
        body = "<jenkins>" + "".join(f'<install plugin="{quote(n, safe="-_.")}@latest"/>' for n in names)
        body += "</jenkins>"
        self._call(
            "POST",
            "pluginManager/installNecessaryPlugins",
            data=body.encode(),
            headers={"Content-Type": "text/xml"},
            write=True,
        )

    def run_script(self, script: str) -> str:
        """Run a Groovy script in the script console and return what it printed."""
        response = self._call("POST", "scriptText", data={"script": script}, write=True)
        assert response is not None
        return response.text

    # -- plumbing -----------------------------------------------------------------------------------------------
    def _session(self) -> requests.Session:
        session: requests.Session | None = getattr(self._local, "session", None)
        if session is None:
            session = requests.Session()
            if self._auth:
                session.auth = self._auth
            self._local.session = session
        return session

    def _count(self, write: bool) -> None:
        with self._lock:
            self.requests += 1
            if write:
                self.writes += 1

    def _call(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, str] | None = None,
        data: Any = None,
        headers: dict[str, str] | None = None,
        write: bool = False,
        missing_ok: bool = False,
        exists_check: bool = False,
    ) -> requests.Response | None:
        url = self.url + path
        crumb_tried = False
        attempt = 0
        while True:
            try:
                with self._slots:
                    self._count(write)
                    response = self._session().request(
                        method,
                        url,
                        params=params,
                        data=data,
                        headers={**(headers or {}), **getattr(self._local, "crumb", {})},
                        timeout=self._timeout,
                        # Jenkins answers a successful POST with a redirect to a page nobody needs to load.
                        allow_redirects=method != "POST",
                    )
            except requests.RequestException as exc:
                error = ServiceError(
                    SERVICE,
                    f"{method} {url}: {_connection_failure(exc)}",
                    retryable=True,
                    hint="is Jenkins up, and is jenkins.url in the platform config its address?",
                )
                delay = 0.0
            else:
                status = response.status_code
                if status < 400 and (status < 300 or method == "POST"):
                    return response
                if status == 404 and missing_ok:
                    return None
                if status == 403 and method == "POST" and not crumb_tried:
                    crumb_tried = True
                    if self._fetch_crumb():
                        continue
                error = self._error(method, url, response, exists_check)
                if not error.retryable:
                    raise error
                delay = _retry_after(response)
            if attempt >= len(self._backoff):
                raise error
            self._sleep(max(self._backoff[attempt], delay))
            attempt += 1

    def _fetch_crumb(self) -> bool:
        """Get a CSRF crumb for this thread's session; False when Jenkins issues none."""
        response = self._call("GET", "crumbIssuer/api/json", missing_ok=True)
        if response is None:
            return False
        data = _json(response)
        self._local.crumb = {str(data["crumbRequestField"]): str(data["crumb"])}
        return True

    def _error(self, method: str, url: str, response: requests.Response, exists_check: bool) -> ServiceError:
        status = response.status_code
        reason = response.headers.get("X-Error") or ""
        where = f"{method} {url} answered {status}" + (f": {reason}" if reason else "")
        said = (reason + response.text).lower()
        # createItem: "A job already exists with the name"; confirmRename: "The name ... is already in use."
        if status == 400 and exists_check and ("already exists" in said or "is already in use" in said):
            return ItemExists(SERVICE, where)
        if status == 404:
            return ItemMissing(SERVICE, where)
        if status in (401, 403) and self._auth is None:
            return ServiceError(
                SERVICE,
                where + " (no user and API token were sent)",
                hint="set the variables the platform config names (jenkins.user_env and jenkins.token_env, default "
                "BUILDPLAT_JENKINS_USER and BUILDPLAT_JENKINS_TOKEN) or jenkins.token_file",
            )
        if status == 401:
            return ServiceError(SERVICE, where, hint="check the Jenkins user and API token the platform config names")
        if status == 403 and (url.endswith("/scriptText") or "/pluginManager/" in url):
            return ServiceError(
                SERVICE, where, hint="installing plugins and tool installations needs the Overall/Administer right"
            )
        if status == 403:
            return ServiceError(SERVICE, where, hint="the Jenkins user needs Job/Create, Configure and Delete rights")
        return ServiceError(SERVICE, where, retryable=status in _RETRY_STATUSES)


def _connection_failure(exc: requests.RequestException) -> str:
    """What went wrong with the connection, in a few words (never the request's headers, which hold the token)."""
    if isinstance(exc, requests.exceptions.ConnectTimeout):
        return "timed out connecting"
    if isinstance(exc, requests.exceptions.Timeout):
        return "no answer in time"
    if isinstance(exc, requests.exceptions.SSLError):
        return "the TLS handshake failed (is the certificate trusted here?)"
    found = _ERRNO.search(str(exc))
    if found:
        return f"cannot connect: {found.group(1).strip()}"
    return f"cannot connect ({type(exc).__name__})"


def _json(response: requests.Response) -> dict[str, Any]:
    """The JSON object of an API answer; anything else (a proxy's HTML page) is a service error, not a crash."""
    try:
        data = response.json()
    except ValueError:
        data = None
    if not isinstance(data, dict):
        raise ServiceError(SERVICE, f"{response.url} did not answer with a JSON object", retryable=True)
    return data


def _retry_after(response: requests.Response) -> float:
    try:
        return min(max(float(response.headers.get("Retry-After", "0")), 0.0), 30.0)
    except ValueError:
        return 0.0
