"""Registry authentication: the ``WWW-Authenticate`` challenge, Basic credentials and the Bearer token flow.

A registry answers 401 with a challenge. ``Basic`` means "send the user and password"; ``Bearer realm=…,
service=…, scope=…`` means "get a token from the realm (with the user and password, if any) for that scope and
send it". Tokens are cached per scope. The password only ever goes into an Authorization header.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import requests

from buildplat.errors import ServiceError

_PARAM = re.compile(r'([A-Za-z_]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^\s,]+))')


@dataclass(frozen=True)
class Challenge:
    scheme: str  # "basic" or "bearer", lowercase
    params: dict[str, str]


def parse_challenge(header: str) -> Challenge | None:
    """The first challenge of a ``WWW-Authenticate`` header (registries send one)."""
    header = header.strip()
    if not header:
        return None
    scheme, _, rest = header.partition(" ")
    params = {m.group(1).lower(): m.group(2) if m.group(2) is not None else m.group(3) for m in _PARAM.finditer(rest)}
    return Challenge(scheme.lower(), {k: v.replace('\\"', '"') for k, v in params.items()})


@dataclass
class Auth:
    """Credentials and the tokens obtained with them, for one registry."""

    username: str | None = None
    password: str | None = None
    timeout: float = 30.0
    _tokens: dict[str, str] = field(default_factory=dict, repr=False)
    _basic: bool = field(default=False, repr=False)

    def __repr__(self) -> str:  # never show the password
        return f"Auth(username={self.username!r}, password={'***' if self.password else None})"

    def header_for(self, scope: str) -> dict[str, str]:
        """The Authorization header to send for ``scope``, if one is known already."""
        if scope in self._tokens:
            return {"Authorization": f"Bearer {self._tokens[scope]}"}
        if self._basic and self.username is not None:
            return {"Authorization": _basic_header(self.username, self.password or "")}
        return {}

    def answer(
        self, session: requests.Session, response: requests.Response, scope: str, service: str, *, first: bool
    ) -> bool:
        """Handle a 401: True when a retry may now succeed (credentials or a token were obtained).

        ``first``: the refused request was the first try, so a cached token may just have expired (a long push
        outlives a token); a token obtained for the retry and refused again is final.
        """
        challenge = parse_challenge(response.headers.get("WWW-Authenticate", ""))
        if challenge is None:
            return False
        if challenge.scheme == "basic":
            if self.username is None or self._basic:
                return False
            self._basic = True
            return True
        if challenge.scheme == "bearer":
            if scope in self._tokens and not first:
                return False
            self._tokens[scope] = self._fetch_token(session, challenge, scope, service)
            return True
        return False

    def _fetch_token(self, session: requests.Session, challenge: Challenge, scope: str, service: str) -> str:
        realm = challenge.params.get("realm")
        if not realm or urlsplit(realm).scheme not in ("http", "https"):
            raise ServiceError(service, f"the registry's token realm {realm!r} is not an http(s) URL")
        # One scope parameter per scope, as the token spec has it (a mount needs two repositories).
        params = [("scope", part) for part in scope.split()]
        if "service" in challenge.params:
            params.append(("service", challenge.params["service"]))
        headers = {}
        if self.username is not None:
            headers["Authorization"] = _basic_header(self.username, self.password or "")
        try:
            reply = session.get(realm, params=params, headers=headers, timeout=self.timeout)
        except requests.RequestException as exc:
            raise ServiceError(service, f"cannot reach the token service {realm}: {exc}", retryable=True) from exc
        if reply.status_code in (401, 403):
            raise ServiceError(
                service,
                f"the token service {realm} refused the credentials (HTTP {reply.status_code})",
                hint="check the registry user and password the platform config names (user_env, password_env)",
            )
        if reply.status_code != 200:
            raise ServiceError(
                service,
                f"the token service {realm} answered HTTP {reply.status_code}",
                retryable=reply.status_code >= 500,
            )
        try:
            body = reply.json()
            token = body.get("token") or body.get("access_token")
        except ValueError:
            token = None
        if not isinstance(token, str) or not token:
            raise ServiceError(service, f"the token service {realm} answered without a token")
        return token


def _basic_header(username: str, password: str) -> str:
    import base64

    return "Basic " + base64.b64encode(f"{username}:{password}".encode()).decode("ascii")
