"""A client for the OCI distribution API (``/v2/``), written on requests; one of the two :class:`ImageStore` s.

- Every repository, tag and digest is validated (``clients.oci``) and quoted before it goes into a URL.
- Auth: Basic, or the Bearer token flow (``clients.registry_auth``), on the registry's 401 challenge.
- Retries with backoff on 5xx, 429, timeouts and refused connections, honouring ``Retry-After``; a blob upload
  is retried as a whole (a fresh upload session), since a failed session cannot be trusted.
- Uploads: monolithic (POST then PUT with the digest) up to ``chunk_threshold``, chunked (PATCH) above it;
  cross-repository mount (``POST …/blobs/uploads/?mount=…&from=…``: 201 mounted, 202 falls back to upload).
- Errors become :class:`~buildplat.errors.ServiceError` (``NotFound`` for 404) with ``retryable`` set.
- :attr:`RegistryClient.stats` counts requests, retries and the bytes of every uploaded blob.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import io
import json
import re
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any
from urllib.parse import parse_qsl, quote, urlencode, urljoin, urlsplit, urlunsplit

import requests

from buildplat.clients import oci
from buildplat.clients.oci import Descriptor, ImageStore, InvalidReference, Manifest
from buildplat.clients.registry_auth import Auth
from buildplat.errors import ServiceError

SERVICE = "registry"
BACKOFF = (0.5, 1.0, 2.0, 4.0, 8.0)
MAX_RETRY_AFTER = 60.0
ACCEPT_MANIFESTS = ", ".join((*oci.MANIFEST_TYPES, *oci.INDEX_TYPES))


class RegistryError(ServiceError):
    """A failed registry call; ``retry_after`` is the wait the registry asked for, if it did."""

    def __init__(
        self, message: str, *, retryable: bool = False, hint: str | None = None, retry_after: float | None = None
    ) -> None:
        super().__init__(SERVICE, message, retryable=retryable, hint=hint)
        self.retry_after = retry_after


class NotFound(RegistryError):
    """The registry has no such manifest, blob or repository (HTTP 404)."""


@dataclass
class TransferStats:
    """What went over the wire: tests and the benchmark assert on it (base layers are never uploaded)."""

    requests: int = 0
    retries: int = 0
    bytes_uploaded: int = 0
    uploaded: dict[str, int] = field(default_factory=dict)  # blob digest -> bytes sent for it (all attempts)
    mounted: list[str] = field(default_factory=list)
    present: list[str] = field(default_factory=list)  # blobs that were there already


class RegistryClient:
    """One registry, e.g. ``RegistryClient("http://127.0.0.1:5000", username=…, password=…)``."""

    def __init__(
        self,
        url: str,
        *,
        username: str | None = None,
        password: str | None = None,
        timeout: float = 60.0,
        backoff: Sequence[float] = BACKOFF,
        chunk_threshold: int = 64 << 20,
        chunk_size: int = 16 << 20,
    ) -> None:
        parts = urlsplit(url.rstrip("/"))
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise InvalidReference(f"invalid registry URL {url!r}", hint="use http://HOST:PORT or https://HOST")
        if "@" in parts.netloc:
            raise InvalidReference(
                "the registry URL must not contain credentials",
                hint="name the user and password through the platform config's user_env and password_env",
            )
        if not oci.HOST_RE.match(parts.netloc):
            raise InvalidReference(f"invalid registry host {parts.netloc!r}", hint="use HOST or HOST:PORT")
        self.base_url = urlunsplit((parts.scheme, parts.netloc, parts.path, "", ""))
        self.host = parts.netloc
        self.timeout = timeout
        self.backoff = tuple(backoff)
        self.chunk_threshold = chunk_threshold
        self.chunk_size = chunk_size
        self.stats = TransferStats()
        self._auth = Auth(username, password, timeout)
        self._session = requests.Session()
        self._session.headers["User-Agent"] = "buildplat"
        # Credentials come from the platform config (Auth adds the header). A session without auth of its own makes
        # requests look for ~/.netrc on every request, a file lookup that costs more than a HEAD to a local
        # registry; an auth that changes nothing turns that off (proxies and CA bundles still come from the
        # environment).
        self._session.auth = _no_auth

    def __repr__(self) -> str:
        return f"RegistryClient({self.base_url!r})"

    def close(self) -> None:
        self._session.close()

    # -- reading -------------------------------------------------------------------------------------------
    def ping(self) -> None:
        """Check that this is a registry speaking the v2 API (an auth challenge counts as an answer)."""
        reply = self._call("GET", self._url("/v2/"), scope="", expect=(200, 401), what="the API check")
        if reply.status_code == 401 and not reply.headers.get("WWW-Authenticate"):
            raise ServiceError(SERVICE, f"{self.base_url} answered 401 without a challenge: not a v2 registry?")

    def describe(self, repository: str, reference: str) -> str:
        separator = "@" if ":" in reference else ":"
        return f"{self.host}/{oci.check_repository(repository)}{separator}{oci.check_reference(reference)}"

    def get_manifest(self, repository: str, reference: str) -> Manifest:
        manifest = self._get_manifest(repository, reference)
        if manifest.media_type in oci.INDEX_TYPES:
            manifest = self._get_manifest(repository, oci.pick_platform(manifest.json))
        if manifest.media_type not in oci.MANIFEST_TYPES:
            raise ServiceError(
                SERVICE,
                f"{self.describe(repository, reference)} is a {manifest.media_type}, not an image manifest",
            )
        return manifest

    def get_raw_manifest(self, repository: str, reference: str) -> Manifest:
        """The manifest or image index exactly as stored (an index is not resolved to a platform)."""
        return self._get_manifest(repository, reference)

    def manifest_digest(self, repository: str, reference: str) -> str | None:
        """The digest a tag points at (HEAD, no body), or None when there is no such manifest."""
        reply = self._call(
            "HEAD",
            self._manifest_url(repository, reference),
            scope=_scope(repository, "pull"),
            expect=(200, 404),
            headers={"Accept": ACCEPT_MANIFESTS},
            what=f"HEAD manifest {reference}",
        )
        if reply.status_code == 404:
            return None
        digest = reply.headers.get("Docker-Content-Digest")
        return oci.check_digest(digest) if digest else self.get_manifest(repository, reference).digest

    def get_blob(self, repository: str, digest: str) -> bytes:
        reply = self._call(
            "GET",
            self._blob_url(repository, digest),
            scope=_scope(repository, "pull"),
            expect=(200,),
            what=f"blob {digest}",
        )
        if oci.sha256_digest(reply.content) != digest:
            raise ServiceError(SERVICE, f"blob {digest} of {repository} does not match its digest", retryable=True)
        return reply.content

    def has_blob(self, repository: str, digest: str) -> bool:
        reply = self._call(
            "HEAD",
            self._blob_url(repository, digest),
            scope=_scope(repository, "pull"),
            expect=(200, 404),
            what=f"HEAD blob {digest}",
        )
        return reply.status_code == 200

    def download_blob(self, repository: str, digest: str, dest: Path) -> None:
        reply = self._call(
            "GET",
            self._blob_url(repository, digest),
            scope=_scope(repository, "pull"),
            expect=(200,),
            stream=True,
            what=f"blob {digest}",
        )
        hasher = hashlib.sha256()
        with reply, dest.open("wb") as out:
            for chunk in reply.iter_content(1 << 20):
                hasher.update(chunk)
                out.write(chunk)
        if "sha256:" + hasher.hexdigest() != digest:
            raise ServiceError(SERVICE, f"blob {digest} of {repository} does not match its digest", retryable=True)

    def tags(self, repository: str) -> list[str]:
        reply = self._call(
            "GET",
            self._url(f"/v2/{_path(repository)}/tags/list"),
            scope=_scope(repository, "pull"),
            expect=(200,),
            what=f"tags of {repository}",
        )
        return [str(t) for t in reply.json().get("tags") or []]

    def catalog(self, page_size: int = 1000) -> Iterator[str]:
        """Every repository, following the ``Link`` pagination header."""
        url: str | None = self._url(f"/v2/_catalog?n={page_size}")
        while url:
            reply = self._call("GET", url, scope="registry:catalog:*", expect=(200,), what="the catalog")
            yield from (str(r) for r in reply.json().get("repositories") or [])
            following = reply.links.get("next", {}).get("url")
            url = urljoin(self.base_url + "/", following) if following else None

    # -- writing -------------------------------------------------------------------------------------------
    def put_blob(self, repository: str, digest: str, source: bytes | Path, *, check: bool = True) -> None:
        """Upload a blob; ``check=False`` skips asking whether it is there already (for a small new blob, the
        question costs as much as the upload)."""
        oci.check_digest(digest)
        if check and self.has_blob(repository, digest):
            self.stats.present.append(digest)
            return
        self._retrying(lambda: self._upload(repository, digest, source), f"upload of blob {digest}")

    def mount_blob(self, repository: str, digest: str, from_repository: str) -> bool:
        """Mount a blob of another repository of this registry; False when the registry would not."""
        location = self._start_upload(repository, mount=(oci.check_digest(digest), from_repository))
        if location is None:
            self.stats.mounted.append(digest)
            return True
        self._cancel_upload(location, repository)
        return False

    def copy_blob(self, repository: str, blob: Descriptor, source: ImageStore, source_repository: str) -> bool:
        if self.has_blob(repository, blob.digest):
            self.stats.present.append(blob.digest)
            return True
        same_registry = isinstance(source, RegistryClient) and source.base_url == self.base_url
        if same_registry and self.mount_blob(repository, blob.digest, source_repository):
            return True
        import tempfile

        with tempfile.TemporaryDirectory(prefix="buildplat-blob-") as temp:
            path = Path(temp) / "blob"
            source.download_blob(source_repository, blob.digest, path)
            self._retrying(lambda: self._upload(repository, blob.digest, path), f"upload of blob {blob.digest}")
        return False

    def put_manifest(self, repository: str, reference: str, raw: bytes, media_type: str) -> str:
        return self.put_manifest_confirmed(repository, reference, raw, media_type)[0]

    def put_manifest_confirmed(self, repository: str, reference: str, raw: bytes, media_type: str) -> tuple[str, bool]:
        """:meth:`put_manifest`, and whether the registry confirmed storing exactly these bytes: its
        ``Docker-Content-Digest`` answer is their digest (a different one raises; False: it sent none)."""
        digest = oci.sha256_digest(raw)
        if ":" in reference and reference != digest:
            raise InvalidReference(f"manifest digest {digest} does not match the reference {reference}")
        reply = self._call(
            "PUT",
            self._manifest_url(repository, reference),
            scope=_scope(repository, "pull,push"),
            expect=(200, 201),
            headers={"Content-Type": media_type},
            body=lambda: raw,
            what=f"PUT manifest {self.describe(repository, reference)}",
        )
        stored = reply.headers.get("Docker-Content-Digest")
        if stored and stored != digest:
            raise ServiceError(SERVICE, f"the registry stored the manifest as {stored}, expected {digest}")
        return digest, bool(stored)

    # -- uploads -------------------------------------------------------------------------------------------
    def _upload(self, repository: str, digest: str, source: bytes | Path) -> None:
        """One attempt: a fresh upload session, the bytes, the digest (``_retrying`` repeats it whole)."""
        location = self._start_upload(repository, retry=False)
        assert location is not None
        scope = _scope(repository, "pull,push")
        size = len(source) if isinstance(source, bytes) else source.stat().st_size
        if size > self.chunk_threshold:
            with io.BytesIO(source) if isinstance(source, bytes) else source.open("rb") as stream:
                location = self._patch_chunks(location, stream, size, scope, digest)
            final = _with_query(location, digest=digest)
            self._call("PUT", final, scope=scope, expect=(201,), retry=False, what=f"finish upload of {digest}")
            return
        opened: list[IO[bytes]] = []

        def body() -> bytes | IO[bytes]:
            if isinstance(source, bytes):
                return source
            stream: IO[bytes] = source.open("rb")  # a fresh stream for each send (an auth challenge re-sends)
            opened.append(stream)
            return stream

        try:
            self._call(
                "PUT",
                _with_query(location, digest=digest),
                scope=scope,
                expect=(201,),
                retry=False,
                body=body,
                headers={"Content-Type": "application/octet-stream", "Content-Length": str(size)},
                what=f"upload of blob {digest}",
            )
        finally:
            for opened_stream in opened:
                opened_stream.close()
        self._count(digest, size)

    def _patch_chunks(self, location: str, stream: IO[bytes], size: int, scope: str, digest: str) -> str:
        offset = 0
        while offset < size:
            chunk = stream.read(self.chunk_size)
            end = offset + len(chunk) - 1
            headers = {
                "Content-Type": "application/octet-stream",
                "Content-Range": f"{offset}-{end}",
                "Content-Length": str(len(chunk)),
            }
            reply = self._call(
                "PATCH",
                location,
                scope=scope,
                expect=(202,),
                retry=False,
                headers=headers,
                body=functools.partial(bytes, chunk),
                what=f"chunk {offset}-{end} of {digest}",
            )
            self._count(digest, len(chunk))
            location = self._location(reply, location)
            offset = end + 1
        return location

    def _start_upload(self, repository: str, *, mount: tuple[str, str] | None = None, retry: bool = True) -> str | None:
        """Open an upload session and return its location; None when a mount succeeded (201)."""
        url = self._url(f"/v2/{_path(repository)}/blobs/uploads/")
        scope = _scope(repository, "pull,push")
        if mount is not None:
            url += "?" + urlencode({"mount": mount[0], "from": oci.check_repository(mount[1])})
            scope += " " + _scope(mount[1], "pull")
        reply = self._call(
            "POST", url, scope=scope, expect=(201, 202), retry=retry, what=f"start of an upload to {repository}"
        )
        if reply.status_code == 201:
            if mount is None:
                raise ServiceError(SERVICE, "the registry answered 201 to an upload request without a mount")
            return None
        return self._location(reply, url)

    def _cancel_upload(self, location: str, repository: str) -> None:
        with contextlib.suppress(ServiceError):
            self._call(
                "DELETE",
                location,
                scope=_scope(repository, "pull,push"),
                expect=(204, 404),
                retry=False,
                what="cancel of an upload",
            )

    def _location(self, reply: requests.Response, request_url: str) -> str:
        location = reply.headers.get("Location")
        if not location:
            raise ServiceError(SERVICE, f"the registry answered {reply.status_code} without a Location header")
        return urljoin(request_url, location)

    def _count(self, digest: str, size: int) -> None:
        self.stats.bytes_uploaded += size
        self.stats.uploaded[digest] = self.stats.uploaded.get(digest, 0) + size

    def _retrying(self, operation: Callable[[], None], what: str) -> None:
        for attempt in range(len(self.backoff) + 1):
            try:
                operation()
                return
            except ServiceError as exc:
                if not exc.retryable or attempt == len(self.backoff):
                    raise
                self.stats.retries += 1
                time.sleep(_wait(exc, self.backoff[attempt]))

    # -- one HTTP exchange ---------------------------------------------------------------------------------
    def _call(
        self,
        method: str,
        url: str,
        *,
        scope: str,
        expect: tuple[int, ...],
        what: str,
        headers: dict[str, str] | None = None,
        body: Callable[[], bytes | IO[bytes]] | None = None,
        stream: bool = False,
        retry: bool = True,
    ) -> requests.Response:
        """Send one request (re-sent after an auth challenge, and on retryable failures when ``retry``)."""
        attempts = len(self.backoff) + 1 if retry else 1
        for attempt in range(attempts):
            try:
                reply = self._send(method, url, scope=scope, headers=headers or {}, body=body, stream=stream, what=what)
                if reply.status_code in expect:
                    return reply
                raise self._error(reply, what)
            except ServiceError as exc:
                if not exc.retryable or attempt == attempts - 1:
                    raise
                self.stats.retries += 1
                time.sleep(_wait(exc, self.backoff[attempt]))
        raise AssertionError("unreachable")

    def _send(
        self,
        method: str,
        url: str,
        *,
        scope: str,
        headers: dict[str, str],
        body: Callable[[], bytes | IO[bytes]] | None,
        stream: bool,
        what: str,
    ) -> requests.Response:
        same_origin = urlsplit(url).netloc == self.host
        for attempt in range(2):
            sent = dict(headers)
            if same_origin:  # tokens and passwords go to the registry only, never to a redirect target
                sent.update(self._auth.header_for(scope))
            self.stats.requests += 1
            try:
                reply = self._session.request(
                    method, url, headers=sent, data=body() if body else None, stream=stream, timeout=self.timeout
                )
            except (requests.ConnectionError, requests.Timeout) as exc:
                raise ServiceError(
                    SERVICE,
                    f"{what}: cannot reach {self.base_url}: {_reason(exc)}",
                    retryable=True,
                    hint="check the registry URL in the platform config and that the registry is up",
                ) from exc
            except requests.RequestException as exc:
                raise ServiceError(SERVICE, f"{what}: {_short(exc)}") from exc
            if reply.status_code != 401 or not same_origin:
                return reply
            if not self._auth.answer(self._session, reply, scope, SERVICE, first=attempt == 0):
                return reply
        return reply

    def _error(self, reply: requests.Response, what: str) -> ServiceError:
        status = reply.status_code
        detail = _error_text(reply)
        message = f"{what}: HTTP {status}{': ' + detail if detail else ''}"
        if status == 404:
            return NotFound(message)
        if status in (401, 403):
            return RegistryError(message, hint="check the registry credentials (user_env, password_env)")
        retryable = status >= 500 or status in (408, 429)
        return RegistryError(message, retryable=retryable, retry_after=_retry_after(reply))

    def _get_manifest(self, repository: str, reference: str) -> Manifest:
        reply = self._call(
            "GET",
            self._manifest_url(repository, reference),
            scope=_scope(repository, "pull"),
            expect=(200,),
            headers={"Accept": ACCEPT_MANIFESTS},
            what=f"manifest {self.describe(repository, reference)}",
        )
        raw = reply.content
        digest = oci.sha256_digest(raw)
        if ":" in reference and digest != reference:
            raise ServiceError(SERVICE, f"manifest {reference} of {repository} does not match its digest")
        try:
            media_type = json.loads(raw).get("mediaType") or reply.headers.get("Content-Type", "")
        except ValueError as exc:
            raise ServiceError(SERVICE, f"manifest {reference} of {repository} is not JSON") from exc
        return Manifest(raw, digest, str(media_type).split(";")[0].strip())

    def _url(self, path: str) -> str:
        return self.base_url + path

    def _manifest_url(self, repository: str, reference: str) -> str:
        return self._url(f"/v2/{_path(repository)}/manifests/{quote(oci.check_reference(reference), safe=':')}")

    def _blob_url(self, repository: str, digest: str) -> str:
        return self._url(f"/v2/{_path(repository)}/blobs/{quote(oci.check_digest(digest), safe=':')}")


def _no_auth(request: requests.PreparedRequest) -> requests.PreparedRequest:
    return request


def _path(repository: str) -> str:
    return "/".join(quote(part, safe="") for part in oci.check_repository(repository).split("/"))


def _scope(repository: str, actions: str) -> str:
    return f"repository:{oci.check_repository(repository)}:{actions}"


def _with_query(url: str, **params: str) -> str:
    parts = urlsplit(url)
    query = [*parse_qsl(parts.query, keep_blank_values=True), *params.items()]
    return urlunsplit((parts.scheme, parts.netloc, parts.path, urlencode(query), parts.fragment))


def _wait(exc: ServiceError, default: float) -> float:
    asked = exc.retry_after if isinstance(exc, RegistryError) else None
    return asked if asked is not None else default


def _retry_after(reply: requests.Response) -> float | None:
    value = reply.headers.get("Retry-After", "").strip()
    if value.isdigit():
        return min(float(value), MAX_RETRY_AFTER)
    return None


def _error_text(reply: requests.Response) -> str:
    try:
        errors: list[dict[str, Any]] = reply.json().get("errors") or []
    except (ValueError, AttributeError):
        return reply.text.strip()[:200] if reply.text else ""
    return "; ".join(f"{e.get('code', '')} {e.get('message', '')}".strip() for e in errors)[:400]


def _reason(exc: requests.RequestException) -> str:
    """The useful end of a connection error ("Connection refused", "timed out"), not urllib3's whole story."""
    if isinstance(exc, requests.Timeout):
        return "timed out"
    found = re.search(r"\[Errno -?\d+\] ([^'\")]+)", str(exc))
    return found.group(1).strip() if found else _short(exc)


def _short(exc: Exception) -> str:
    text = str(exc)
    return text if len(text) < 300 else text[:300] + "…"
