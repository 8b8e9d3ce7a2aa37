"""Users, permissions, HTTP basic authentication and CSRF crumbs, as Jenkins' default security behaves.

- Basic auth is tried as an API token first, then as the user's password (BasicHeaderApiTokenAuthenticator, then
  BasicHeaderRealPasswordAuthenticator). A wrong pair answers 401 with ``WWW-Authenticate: Basic realm="Jenkins"``.
- Anonymous without Overall/Read gets 403 "Authentication required"; an authenticated user without a permission
  gets 403 "<user> is missing the <Group/Name> permission" with ``X-You-Are-Authenticated-As`` and
  ``X-Required-Permission`` headers.
- Crumbs (DefaultCrumbIssuer): SHA-256 of ``user;client-ip;session-id`` and a salt, so a crumb is only valid for the
  same user in the same HTTP session (cookie ``JSESSIONID.<hash>``). A POST needs a valid crumb in the
  ``Jenkins-Crumb`` header or form field, **unless it is authenticated by an API token** (ApiCrumbExclusion).
"""

from __future__ import annotations

import base64
import hashlib
import html
import secrets
from dataclasses import dataclass, field

from tests.jenkins_double.web import HttpError, Request, page, plain_error

ADMINISTER = "hudson.model.Hudson.Administer"
READ = "hudson.model.Hudson.Read"
SYSTEM_READ = "jenkins.model.Jenkins.SystemRead"
ITEM_CREATE = "hudson.model.Item.Create"
ITEM_DELETE = "hudson.model.Item.Delete"
ITEM_CONFIGURE = "hudson.model.Item.Configure"
ITEM_READ = "hudson.model.Item.Read"
ITEM_EXTENDED_READ = "hudson.model.Item.ExtendedRead"
ITEM_BUILD = "hudson.model.Item.Build"
ITEM_CANCEL = "hudson.model.Item.Cancel"

_TITLES = {
    ADMINISTER: "Overall/Administer",
    READ: "Overall/Read",
    SYSTEM_READ: "Overall/SystemRead",
    ITEM_CREATE: "Job/Create",
    ITEM_DELETE: "Job/Delete",
    ITEM_CONFIGURE: "Job/Configure",
    ITEM_READ: "Job/Read",
    ITEM_EXTENDED_READ: "Job/ExtendedRead",
    ITEM_BUILD: "Job/Build",
    ITEM_CANCEL: "Job/Cancel",
}
# What a granted permission implies besides itself (Administer implies everything).
_IMPLIES = {ITEM_CONFIGURE: {ITEM_EXTENDED_READ}}
READ_ONLY = frozenset({READ, ITEM_READ})
CRUMB_FIELD = "Jenkins-Crumb"


@dataclass
class User:
    id: str
    password: str
    permissions: frozenset[str]
    tokens: list[str] = field(default_factory=list)
    full_name: str = ""


def new_api_token() -> str:
    """Jenkins' current token format: "11" and 32 hex digits."""
    return "11" + secrets.token_hex(16)


@dataclass
class Security:
    users: dict[str, User] = field(default_factory=dict)
    anonymous_permissions: frozenset[str] = frozenset()  # anonymous read denied, as on a secured Jenkins
    use_crumbs: bool = True
    salt: bytes = field(default_factory=lambda: secrets.token_bytes(16))
    cookie_name: str = field(default_factory=lambda: "JSESSIONID." + secrets.token_hex(4))
    sessions: set[str] = field(default_factory=set)

    def add_user(self, user_id: str, password: str, permissions: frozenset[str] | set[str]) -> str:
        """Create a user with one API token; returns the token."""
        token = new_api_token()
        self.users[user_id] = User(user_id, password, frozenset(permissions), [token], user_id)
        return token

    # --- authentication ------------------------------------------------------------------------------------------

    def authenticate(self, req: Request) -> None:
        """Set ``req.user`` / ``req.via_token`` from the Authorization header, or raise 401."""
        header = req.headers.get("Authorization")
        if not header or not header.lower().startswith("basic "):
            return
        try:
            username, _, password = base64.b64decode(header[6:].strip()).decode("utf-8").partition(":")
        except (ValueError, UnicodeDecodeError):  # "Malformed HTTP basic Authorization header": 401 too
            username, password = "", ""
        user = self.users.get(username)
        if user is not None and password in user.tokens:
            req.user, req.via_token = user.id, True
        elif user is not None and password == user.password:
            req.user = user.id
        else:
            error = plain_error(401, "Unauthorized")
            error.response.headers.append(("WWW-Authenticate", 'Basic realm="Jenkins"'))
            raise error

    def has(self, req: Request, permission: str) -> bool:
        granted = self.users[req.user].permissions if req.user else self.anonymous_permissions
        if ADMINISTER in granted or permission in granted:
            return True
        return any(permission in _IMPLIES.get(grant, ()) for grant in granted)

    def check(self, req: Request, permission: str) -> None:
        if self.has(req, permission):
            return
        name = req.user or "anonymous"
        headers = [("X-You-Are-Authenticated-As", name), ("X-Required-Permission", permission)]
        if req.user is None:  # HudsonAuthenticationEntryPoint
            body = "<p>Authentication required</p>"
            raise HttpError(page("Authentication required", body, status=403, headers=headers))
        message = f"{name} is missing the {_TITLES.get(permission, permission)} permission"
        raise HttpError(
            page("Access Denied", f"<h1>Access Denied</h1><p>{html.escape(message)}</p>", status=403, headers=headers)
        )

    # --- sessions and crumbs -------------------------------------------------------------------------------------

    def session_of(self, req: Request) -> str:
        """HttpServletRequest.getSession(): the cookie's session, or a new one (sent back as Set-Cookie)."""
        if req.session is None:
            known = req.cookies().get(self.cookie_name)
            if known in self.sessions:
                req.session = known
            else:
                req.session = "node0" + secrets.token_hex(12)
                self.sessions.add(req.session)
                req.new_session = True
        return req.session

    def crumb_for(self, req: Request) -> str:
        name = req.user or "anonymous"
        seed = f"{name};{req.client_ip};{self.session_of(req)}".encode()
        return hashlib.sha256(seed + self.salt).hexdigest()

    def check_crumb(self, req: Request) -> None:
        if not self.use_crumbs or req.method != "POST" or req.via_token:
            return
        crumb = req.headers.get(CRUMB_FIELD) or req.param(CRUMB_FIELD)
        if crumb is None or not secrets.compare_digest(crumb, self.crumb_for(req)):
            raise plain_error(403, "No valid crumb was included in the request")
