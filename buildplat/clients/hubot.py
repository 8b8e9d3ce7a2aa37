"""Posting a notification to the team's Hubot (the project's ``buildplat/notify`` route).

The route takes ``POST <hubot url>/buildplat/notify`` with a JSON body such as
``{"room": ..., "event": "config" | "pipeline" | "base-image", ...}`` and answers 202; a configured token goes in
``Authorization: Bearer <token>``. Used by the seed job (invalid default.json reports) and the pipeline's notify
stage. Errors become :class:`~buildplat.errors.ServiceError`; the token never appears in a message.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import requests

from buildplat.errors import ServiceError

SERVICE = "Hubot"
NOTIFY_PATH = "/buildplat/notify"
# Seconds to wait before each retry of a failed post; Retry-After from the server wins when it says more.
DEFAULT_BACKOFF: tuple[float, ...] = (0.5, 1.0, 2.0)
MAX_RETRY_AFTER = 30.0
DEFAULT_TIMEOUT = 10.0
_RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})


class HubotRefused(ServiceError):
    """Hubot answered a 4xx other than 429: the post is wrong and will not be retried.

    ``status`` is the HTTP status and ``error`` the route's ``{"error": ...}`` text (empty when it sent none), so a
    caller can tell, for example, an older notification script that does not know a field yet.
    """

    def __init__(self, message: str, *, status: int, error: str, hint: str | None = None) -> None:
        super().__init__(SERVICE, message, retryable=False, hint=hint)
        self.status = status
        self.error = error


def notify_url(url: str) -> str:
    """The notify route under a Hubot base URL (``http://hubot:8080`` -> ``http://hubot:8080/buildplat/notify``)."""
    base = url.rstrip("/")
    return base if base.endswith(NOTIFY_PATH) else base + NOTIFY_PATH


def post_notification(
    url: str,
    token: str | None,
    payload: Mapping[str, Any],
    *,
    backoff: Sequence[float] = DEFAULT_BACKOFF,
    timeout: float = DEFAULT_TIMEOUT,
    sleep: Callable[[float], None] = time.sleep,
) -> None:
    """Post ``payload`` to Hubot at ``url`` (its base URL or the full notify URL).

    Retries connection failures, 429 and 5xx answers after each delay in ``backoff`` (or the server's
    Retry-After, capped at 30 s); a 4xx other than 429 is the caller's mistake and is not retried.
    """
    target = notify_url(url)
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    attempts = len(backoff) + 1
    last: ServiceError | None = None
    for attempt in range(attempts):
        delay = backoff[attempt] if attempt < len(backoff) else 0.0
        try:
            response = requests.post(target, json=dict(payload), headers=headers, timeout=timeout)
        except requests.RequestException as exc:
            # The exception text can carry the URL but never the headers, so the token stays out of it.
            last = ServiceError(SERVICE, f"cannot reach {target}: {type(exc).__name__}", retryable=True)
        else:
            if 200 <= response.status_code < 300:
                return
            detail = _detail(response)
            retryable = response.status_code in _RETRY_STATUSES
            if not retryable and 400 <= response.status_code < 500:
                raise HubotRefused(
                    f"POST {target} answered {response.status_code}{detail}",
                    status=response.status_code,
                    error=_error_field(response),
                    hint=_hint(response.status_code),
                )
            last = ServiceError(
                SERVICE,
                f"POST {target} answered {response.status_code}{detail}",
                retryable=retryable,
                hint=_hint(response.status_code),
            )
            if not retryable:
                raise last
            delay = max(delay, _retry_after(response))
        if attempt < attempts - 1:
            sleep(delay)
    assert last is not None
    raise last


def _retry_after(response: requests.Response) -> float:
    value = response.headers.get("Retry-After", "")
    try:
        return min(max(float(value), 0.0), MAX_RETRY_AFTER)
    except ValueError:
        return 0.0  # an HTTP date or junk: fall back to our own schedule


def _error_field(response: requests.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return ""
    error = body.get("error") if isinstance(body, dict) else None
    return error if isinstance(error, str) else ""


def _detail(response: requests.Response) -> str:
    text = response.text.strip().replace("\n", " ")
    return f": {text[:200]}" if text else ""


def _hint(status: int) -> str | None:
    if status == 401:
        return "check the token named by hubot.token_env in the platform config"
    if status == 404:
        return "is the buildplat notification script loaded in this Hubot? (route POST /buildplat/notify)"
    if status == 400:
        return "Hubot rejected the message body; this is probably a bug in buildplat"
    return None
