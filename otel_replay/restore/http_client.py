"""HTTP access to trace backends: :class:`_Http` GETs JSON with a timeout, a size cap and no
redirects, and maps every failure to a :class:`BackendError` subclass naming the URL.

Only the standard library is used. The timeout is ``timeout=`` or ``$OTEL_REPLAY_HTTP_TIMEOUT``
(seconds) and is a **total deadline** for each request: connecting, the TLS handshake,
sending, the response headers and the body together (every socket operation gets the time
left, so a server that sends one byte at a time cannot keep a request alive). Bodies over
``max_response_bytes`` raise :class:`BackendResponseError`.
"""

from __future__ import annotations

import http.client
import io
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


class _DeadlineSocket:
    """A connected socket whose every operation gets the time left before ``deadline``."""

    def __init__(self, sock: socket.socket, deadline: float) -> None:
        self._sock = sock
        self._deadline = deadline

    def _arm(self) -> None:
        left = self._deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError("the request deadline passed")
        self._sock.settimeout(left)

    def recv_into(self, buffer: Any, nbytes: int = 0, flags: int = 0) -> int:
        self._arm()
        return self._sock.recv_into(buffer, nbytes, flags)

    def recv(self, bufsize: int, flags: int = 0) -> bytes:
        self._arm()
        return self._sock.recv(bufsize, flags)

    def sendall(self, data: Any, flags: int = 0) -> None:
        self._arm()
        self._sock.sendall(data, flags)

    def makefile(self, mode: str = "rb", buffering: int | None = None, **_: Any) -> Any:
        # as socket.makefile: the file holds a reference, so the socket's fd stays open
        # until the response is read (urllib closes the socket right after the headers)
        self._sock._io_refs += 1  # type: ignore[attr-defined]
        raw = socket.SocketIO(self, "rb")  # type: ignore[arg-type]
        return io.BufferedReader(raw, buffering or io.DEFAULT_BUFFER_SIZE)

    def _decref_socketios(self) -> None:
        self._sock._decref_socketios()  # type: ignore[attr-defined]

    def __getattr__(self, name: str) -> Any:
        return getattr(self._sock, name)


def _deadline_connection(base: type[http.client.HTTPConnection]) -> type[Any]:
    class _Conn(base):  # type: ignore[misc, valid-type]
        def __init__(self, *args: Any, deadline: float, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self._deadline = deadline

        def connect(self) -> None:
            left = self._deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError("the request deadline passed")
            self.timeout = left
            super().connect()
            sock: Any = self.__dict__["sock"]
            self.sock = _DeadlineSocket(sock, self._deadline)

    _Conn.__name__ = f"_Deadline{base.__name__}"
    return _Conn


_DeadlineHTTPConnection: Any = _deadline_connection(http.client.HTTPConnection)
_DeadlineHTTPSConnection: Any = _deadline_connection(http.client.HTTPSConnection)


class _DeadlineHTTPHandler(urllib.request.HTTPHandler):
    def http_open(self, req: Any) -> Any:
        return self.do_open(_DeadlineHTTPConnection, req, deadline=req.otel_replay_deadline)


class _DeadlineHTTPSHandler(urllib.request.HTTPSHandler):
    def https_open(self, req: Any) -> Any:
        return self.do_open(
            _DeadlineHTTPSConnection,
            req,
            context=getattr(self, "_context", None),
            deadline=req.otel_replay_deadline,
        )


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
        self._opener = urllib.request.build_opener(
            _NoRedirect, _DeadlineHTTPHandler, _DeadlineHTTPSHandler
        )

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
        req.otel_replay_deadline = deadline  # type: ignore[attr-defined]
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
