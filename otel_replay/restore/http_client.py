"""HTTP access to trace backends: :class:`_Http` GETs JSON with a timeout, a size cap and no
redirects, and maps every failure to a :class:`BackendError` subclass naming the URL.

Only the standard library is used. The timeout is ``timeout=`` or ``$OTEL_REPLAY_HTTP_TIMEOUT``
(seconds); bodies over ``max_response_bytes`` raise :class:`BackendResponseError`.
"""

from __future__ import annotations

import http.client
import json
import math
import socket
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping, Sequence
from email.message import Message
from typing import Any, NoReturn

from otel_replay.core import conventions as c
from otel_replay.core.env import env_float

__all__ = [
    "BackendError",
    "BackendUnreachableError",
    "BackendNotFoundError",
    "BackendAuthError",
    "BackendResponseError",
    "TraceNotFoundError",
    "DEFAULT_MAX_RESPONSE_BYTES",
]

#: Default cap on one HTTP response body (bytes).
DEFAULT_MAX_RESPONSE_BYTES = 64 * 1024 * 1024
_EXCERPT_CHARS = 200
_ERROR_BODY_BYTES = 64 * 1024
_CHUNK = 64 * 1024


# --------------------------------------------------------------------------------------------
# Errors


class BackendError(Exception):
    """A trace backend could not answer; ``url`` is the request URL, ``status`` the HTTP
    status (``None`` when there was no HTTP answer)."""

    def __init__(
        self, message: str, *, url: str, status: int | None = None, excerpt: str = ""
    ) -> None:
        super().__init__(message)
        self.url = url
        self.status = status
        self.excerpt = excerpt


class BackendUnreachableError(BackendError):
    """No HTTP answer: connection refused, name resolution failed or timed out."""


class BackendNotFoundError(BackendError):
    """HTTP 404: wrong base URL, unknown project or trace."""


class TraceNotFoundError(BackendNotFoundError):
    """Jaeger has no trace with the requested id."""


class BackendAuthError(BackendError):
    """HTTP 401/403: missing or wrong credentials."""


class BackendResponseError(BackendError):
    """Any other HTTP status, a body that is not the expected JSON, or an oversize body."""


def _excerpt(body: bytes) -> str:
    text = " ".join(body[: _EXCERPT_CHARS * 4].decode("utf-8", "replace").split())
    if len(text) > _EXCERPT_CHARS:
        return text[:_EXCERPT_CHARS] + "..."
    return text or "(empty body)"


# --------------------------------------------------------------------------------------------
# HTTP


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None  # a 3xx then surfaces as an HTTPError


def _timeout_seconds(timeout: float | None) -> float:
    if timeout is None:
        timeout = env_float(c.ENV_HTTP_TIMEOUT, c.DEFAULT_HTTP_TIMEOUT_SECONDS)
    if not isinstance(timeout, (int, float)) or not math.isfinite(timeout) or timeout <= 0:
        raise ValueError(f"timeout must be a positive number of seconds, got {timeout!r}")
    return float(timeout)


def _base_url(base_url: str) -> str:
    if not isinstance(base_url, str):
        raise TypeError(f"base_url must be a string, got {type(base_url).__qualname__}")
    parts = urllib.parse.urlsplit(base_url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"base_url must be an http:// or https:// URL, got {base_url!r}")
    if parts.username is not None or parts.password is not None:
        raise ValueError("base_url must not carry credentials; pass api_key= or headers=")
    if parts.query or parts.fragment:
        raise ValueError(f"base_url must not have a query or fragment, got {base_url!r}")
    path = parts.path if parts.path.endswith("/") else parts.path + "/"
    return urllib.parse.urlunsplit((parts.scheme, parts.netloc, path, "", ""))


class _Http:
    """GET JSON from one backend with a timeout, a size cap and mapped errors."""

    def __init__(
        self,
        backend: str,
        base_url: str,
        *,
        timeout: float | None,
        max_response_bytes: int,
        headers: Mapping[str, str] | None,
        auth_hint: str,
    ) -> None:
        if not isinstance(max_response_bytes, int) or max_response_bytes <= 0:
            raise ValueError(
                f"max_response_bytes must be a positive int, got {max_response_bytes!r}"
            )
        self.backend = backend
        self.base = _base_url(base_url)
        self.timeout = _timeout_seconds(timeout)
        self.max_bytes = max_response_bytes
        self.headers = {"Accept": "application/json", **dict(headers or {})}
        self.auth_hint = auth_hint
        self._opener = urllib.request.build_opener(_NoRedirect)

    def url(self, segments: Sequence[str], query: Sequence[tuple[str, str]] = ()) -> str:
        """``base`` + the quoted path ``segments`` + the encoded ``query``."""
        path = "/".join(urllib.parse.quote(s, safe="") for s in segments)
        url = urllib.parse.urljoin(self.base, path)
        return f"{url}?{urllib.parse.urlencode(list(query))}" if query else url

    def get(self, url: str) -> tuple[int, bytes, str]:
        """(status, body, content type) of a 2xx answer; raises :class:`BackendError`
        (an :class:`urllib.error.HTTPError` is passed to :meth:`_status_error`)."""
        req = urllib.request.Request(url, headers=self.headers, method="GET")
        deadline = time.monotonic() + self.timeout
        try:
            with self._opener.open(req, timeout=self.timeout) as resp:
                status = resp.status
                ctype = resp.headers.get("Content-Type", "")
                body = self._read(resp, url, status, deadline)
        except BackendError:
            raise
        except urllib.error.HTTPError as exc:
            self._status_error(exc, url)
        except urllib.error.URLError as exc:
            self._unreachable(url, exc.reason)
        except OSError as exc:  # includes TimeoutError
            self._unreachable(url, exc)
        except http.client.HTTPException as exc:  # e.g. IncompleteRead, BadStatusLine
            raise BackendResponseError(
                f"{self.backend} sent a broken HTTP response for {url}: {type(exc).__name__}: {exc}",
                url=url,
            ) from exc
        return status, body, ctype

    def _read(self, resp: Any, url: str, status: int, deadline: float) -> bytes:
        length = resp.headers.get("Content-Length")
        if length is not None and length.isdigit() and int(length) > self.max_bytes:
            raise BackendResponseError(
                f"{self.backend} answered {url} with HTTP {status} and {int(length)} bytes, over "
                f"the cap of {self.max_bytes} bytes (max_response_bytes)",
                url=url,
                status=status,
            )
        chunks: list[bytes] = []
        size = 0
        while True:
            if time.monotonic() > deadline:
                raise TimeoutError("response not complete")
            chunk = resp.read1(_CHUNK)  # returns what has arrived: the deadline is checked
            if not chunk:
                return b"".join(chunks)
            size += len(chunk)
            if size > self.max_bytes:
                raise BackendResponseError(
                    f"{self.backend} answered {url} with HTTP {status} and more than "
                    f"{self.max_bytes} bytes (max_response_bytes): "
                    f"{_excerpt((chunks[0] if chunks else chunk)[:1024])}",
                    url=url,
                    status=status,
                )
            chunks.append(chunk)

    def _unreachable(self, url: str, reason: object) -> NoReturn:
        if isinstance(reason, TimeoutError):
            raise BackendUnreachableError(
                f"{self.backend} at {url} did not answer within the timeout of {self.timeout:g}s",
                url=url,
            )
        if isinstance(reason, ConnectionRefusedError):
            what = "connection refused"
        elif isinstance(reason, socket.gaierror):
            what = f"cannot resolve the host name ({reason.strerror or reason})"
        else:
            what = (
                f"{type(reason).__name__}: {reason}"
                if isinstance(reason, BaseException)
                else str(reason)
            )
        raise BackendUnreachableError(
            f"{self.backend} at {url} is unreachable: {what} (timeout {self.timeout:g}s)", url=url
        )

    def _status_error(self, exc: urllib.error.HTTPError, url: str) -> NoReturn:
        status = exc.code
        try:
            body = exc.read(_ERROR_BODY_BYTES) if exc.fp is not None else b""
        except (OSError, ValueError, TimeoutError):
            body = b""
        finally:
            exc.close()
        text = _excerpt(body)
        if status == 404:
            raise BackendNotFoundError(
                f"{self.backend} answered HTTP 404 Not Found for {url}: {text}",
                url=url,
                status=404,
                excerpt=text,
            )
        if status in (401, 403):
            reason = "Unauthorized" if status == 401 else "Forbidden"
            raise BackendAuthError(
                f"{self.backend} answered HTTP {status} {reason} for {url}: {text}; "
                f"{self.auth_hint}",
                url=url,
                status=status,
                excerpt=text,
            )
        if 300 <= status < 400:
            headers: Message | None = exc.headers
            location = headers.get("Location") if headers is not None else None
            raise BackendResponseError(
                f"{self.backend} answered HTTP {status} for {url} (redirect to {location}); "
                f"redirects are not followed: use the final URL as base_url",
                url=url,
                status=status,
            )
        raise BackendResponseError(
            f"{self.backend} answered HTTP {status} for {url}: {text}",
            url=url,
            status=status,
            excerpt=text,
        )

    def get_json(self, url: str) -> Any:
        """The decoded JSON body of a 2xx answer to ``url``."""
        status, body, ctype = self.get(url)
        return self.decode(url, status, body, ctype)

    def decode(self, url: str, status: int, body: bytes, ctype: str) -> Any:
        """``body`` decoded as JSON, or :class:`BackendResponseError`."""
        try:
            return json.loads(body)
        except (ValueError, RecursionError) as exc:
            kind = f", content type {ctype}" if ctype else ""
            hint = f"; is {self.base} the {self.backend} base URL?" if "html" in ctype else ""
            raise BackendResponseError(
                f"{self.backend} answered {url} with HTTP {status}{kind} but the body is not "
                f"JSON ({type(exc).__name__}: {str(exc)[:80]}): {_excerpt(body)}{hint}",
                url=url,
                status=status,
                excerpt=_excerpt(body),
            ) from None
