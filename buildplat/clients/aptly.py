"""The aptly REST API (``aptly api serve``): upload a package, add it to a local repo, publish the repo.

Every name that goes into a URL is quoted as one path segment. Connection failures, timeouts, 429 and 5xx
answers are retried after each delay in ``backoff`` (the server's Retry-After wins when it asks for longer,
capped at 60 s); other 4xx answers fail at once with aptly's own message. Errors are
:class:`~buildplat.errors.ServiceError`; credentials never appear in them.
"""

from __future__ import annotations

import email.utils
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import quote

import requests

from buildplat.errors import ServiceError

SERVICE = "apt repository (aptly)"
DEFAULT_BACKOFF: tuple[float, ...] = (0.5, 1.0, 2.0, 4.0)
MAX_RETRY_AFTER = 60.0
_RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})


def segment(name: str) -> str:
    return quote(name, safe="")


def publish_prefix(prefix: str) -> str:
    """aptly's URL form of a publishing prefix: ``.`` for the root, ``_`` for ``/`` and ``__`` for ``_``."""
    if prefix in ("", "."):
        return ":."
    return segment(prefix.replace("_", "__").replace("/", "_"))


class AptlyClient:
    def __init__(
        self,
        api_url: str,
        *,
        auth: tuple[str, str] | None = None,
        timeout: float = 120.0,
        backoff: Sequence[float] = DEFAULT_BACKOFF,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.api_url = api_url.rstrip("/")
        self.timeout = timeout
        self.backoff = tuple(backoff)
        self.sleep = sleep
        self.session = requests.Session()
        self.session.auth = auth

    # Local repositories -------------------------------------------------------------------------------

    def get_repo(self, name: str) -> dict[str, Any] | None:
        found = self._json("GET", f"/api/repos/{segment(name)}", missing_ok=True)
        return dict(found) if found is not None else None

    def create_repo(self, name: str, distribution: str, component: str) -> None:
        body = {"Name": name, "DefaultDistribution": distribution, "DefaultComponent": component}
        self._request("POST", "/api/repos", json=body)

    def packages(self, repo: str, query: str) -> list[dict[str, Any]]:
        """The repo's packages matching an aptly package query, with all their fields."""
        found = self._json("GET", f"/api/repos/{segment(repo)}/packages", params={"q": query, "format": "details"})
        return list(found or [])

    def upload(self, directory: str, path: Path) -> None:
        def send() -> requests.Response:
            with path.open("rb") as stream:
                return self.session.post(
                    self._url(f"/api/files/{segment(directory)}"),
                    files={"file": (path.name, stream, "application/vnd.debian.binary-package")},
                    timeout=self.timeout,
                )

        self._with_retries("POST", f"/api/files/{segment(directory)}", send)

    def add_uploaded(self, repo: str, directory: str, filename: str) -> dict[str, Any]:
        """Add an uploaded file to the repo; aptly's report (``FailedFiles``, ``Report.Warnings`` …)."""
        path = f"/api/repos/{segment(repo)}/file/{segment(directory)}/{segment(filename)}"
        return dict(self._json("POST", path) or {})

    def delete_upload(self, directory: str) -> None:
        self._request("DELETE", f"/api/files/{segment(directory)}", missing_ok=True)

    # Publishing -------------------------------------------------------------------------------------------

    def published(self, prefix: str, distribution: str) -> dict[str, Any] | None:
        wanted = prefix if prefix not in ("", ".") else "."
        for entry in self._json("GET", "/api/publish") or []:
            if entry.get("Prefix") == wanted and entry.get("Distribution") == distribution:
                return dict(entry)
        return None

    def publish(
        self,
        prefix: str,
        *,
        repo: str,
        distribution: str,
        component: str,
        architectures: Sequence[str],
        signing: dict[str, Any],
    ) -> None:
        body = {
            "SourceKind": "local",
            "Sources": [{"Component": component, "Name": repo}],
            "Distribution": distribution,
            "Architectures": list(architectures),
            "Signing": signing,
        }
        self._request("POST", f"/api/publish/{publish_prefix(prefix)}", json=body)

    def update_published(self, prefix: str, distribution: str, *, signing: dict[str, Any]) -> None:
        path = f"/api/publish/{publish_prefix(prefix)}/{segment(distribution)}"
        self._request("PUT", path, json={"Signing": signing})

    # Plumbing ---------------------------------------------------------------------------------------------

    def _url(self, path: str) -> str:
        return self.api_url + path

    def _json(self, method: str, path: str, *, missing_ok: bool = False, **kwargs: Any) -> Any:
        response = self._request(method, path, missing_ok=missing_ok, **kwargs)
        if response is None:
            return None
        try:
            return response.json()
        except ValueError:
            raise ServiceError(SERVICE, f"{method} {path} answered something that is not JSON") from None

    def _request(self, method: str, path: str, *, missing_ok: bool = False, **kwargs: Any) -> requests.Response | None:
        def send() -> requests.Response:
            return self.session.request(method, self._url(path), timeout=self.timeout, **kwargs)

        return self._with_retries(method, path, send, missing_ok=missing_ok)

    def _with_retries(
        self, method: str, path: str, send: Callable[[], requests.Response], *, missing_ok: bool = False
    ) -> requests.Response | None:
        where = f"{method} {self.api_url}{path}"
        last = ServiceError(SERVICE, f"{where} was not attempted")
        for attempt in range(len(self.backoff) + 1):
            delay = self.backoff[attempt] if attempt < len(self.backoff) else 0.0
            try:
                response = send()
            except requests.RequestException as exc:
                last = ServiceError(SERVICE, f"{where} failed: {type(exc).__name__}", retryable=True)
            else:
                if response.status_code < 300:
                    return response
                if response.status_code == 404 and missing_ok:
                    return None
                last = ServiceError(
                    SERVICE,
                    f"{where} answered {response.status_code}: {_error_text(response)}",
                    retryable=response.status_code in _RETRY_STATUSES,
                    hint=_hint(response.status_code),
                )
                if not last.retryable:
                    raise last
                delay = max(delay, _retry_after(response))
            if attempt < len(self.backoff):
                self.sleep(delay)
        raise last


def fetch_text(url: str, *, timeout: float = 30.0) -> str | None:
    """A file of the published tree (served by a plain web server), or None when it is not there."""
    try:
        response = requests.get(url, timeout=timeout)
    except requests.RequestException as exc:
        raise ServiceError(SERVICE, f"GET {url} failed: {type(exc).__name__}", retryable=True) from None
    if response.status_code == 404:
        return None
    if response.status_code >= 300:
        raise ServiceError(SERVICE, f"GET {url} answered {response.status_code}", retryable=response.status_code >= 500)
    return response.text


def _error_text(response: requests.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict) and isinstance(body.get("error"), str):
        return str(body["error"])[:500]
    if isinstance(body, list) and body and isinstance(body[0], dict) and "error" in body[0]:
        return str(body[0]["error"])[:500]
    return response.text.strip().replace("\n", " ")[:300] or response.reason or "no details"


def _retry_after(response: requests.Response) -> float:
    value = response.headers.get("Retry-After", "").strip()
    if not value:
        return 0.0
    try:
        seconds = float(value)
    except ValueError:
        try:
            seconds = email.utils.parsedate_to_datetime(value).timestamp() - time.time()
        except (TypeError, ValueError):
            return 0.0
    return min(max(seconds, 0.0), MAX_RETRY_AFTER)


def _hint(status: int) -> str | None:
    if status in (401, 403):
        return "check the apt repository credentials named by apt.user_env/apt.password_env in the platform config"
    if status == 404:
        return "check apt.api_url in the platform config: it should point at `aptly api serve`"
    return None
