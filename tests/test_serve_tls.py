"""TLS of ``otel-replay serve``'s span and log export: the CA certificate, the client key and
certificate (mutual TLS) and the plain-or-TLS choice of gRPC are read from the
``OTEL_EXPORTER_OTLP_[<SIGNAL>_]*`` variables as the SDK's exporters read them, and used
against real HTTPS and gRPC servers with certificates made by ``openssl``."""

from __future__ import annotations

import os
import ssl
import subprocess
import threading
from collections.abc import Iterator
from concurrent import futures
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import grpc
import pytest

from otel_replay.serve.config import Downstream, parse_downstream
from otel_replay.serve.otlp_out import OtlpSender, sender_for

_TRACE_SERVICE = "opentelemetry.proto.collector.trace.v1.TraceService"


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith("OTEL_EXPORTER_OTLP"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_TIMEOUT", "1500")  # failures end quickly


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A CA, and a server and a client certificate it signed (for localhost)."""
    d = tmp_path_factory.mktemp("tls")
    (d / "san.ext").write_text("subjectAltName=DNS:localhost,IP:127.0.0.1\n")

    def openssl(*args: str) -> None:
        subprocess.run(["openssl", *args], cwd=d, check=True, capture_output=True)

    openssl(
        *("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2"),
        *("-keyout", "ca.key", "-out", "ca.pem", "-subj", "/CN=otel-replay test CA"),
    )
    for name in ("server", "client"):
        openssl(
            *("req", "-newkey", "rsa:2048", "-nodes", "-keyout", f"{name}.key"),
            *("-out", f"{name}.csr", "-subj", "/CN=localhost"),
        )
        openssl(
            *("x509", "-req", "-in", f"{name}.csr", "-CA", "ca.pem", "-CAkey", "ca.key"),
            *("-CAcreateserial", "-days", "2", "-extfile", "san.ext", "-out", f"{name}.pem"),
        )
    return d


@contextmanager
def https_server(certs: Path, client_auth: bool = False) -> Iterator[tuple[str, list[Any]]]:
    """An HTTPS server on localhost with the CA's server certificate; what it was sent."""
    got: list[tuple[str, bytes]] = []

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:
            pass

        def do_POST(self) -> None:
            got.append((self.path, self.rfile.read(int(self.headers["Content-Length"]))))
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

    class Server(ThreadingHTTPServer):
        def handle_error(self, request: Any, client_address: Any) -> None:
            pass  # a refused handshake: the client's side is asserted

    server = Server(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(certs / "server.pem", certs / "server.key")
    if client_auth:
        ctx.verify_mode = ssl.CERT_REQUIRED
        ctx.load_verify_locations(certs / "ca.pem")
    server.socket = ctx.wrap_socket(server.socket, server_side=True, do_handshake_on_connect=False)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"https://localhost:{server.server_address[1]}", got
    finally:
        server.shutdown()
        server.server_close()


@contextmanager
def grpc_tls_server(certs: Path, client_auth: bool = False) -> Iterator[tuple[int, list[bytes]]]:
    """A gRPC server with TLS taking OTLP trace exports (the bytes it was sent)."""
    got: list[bytes] = []

    def export(request: bytes, context: Any) -> bytes:
        got.append(request)
        return b""

    handler = grpc.method_handlers_generic_handler(
        _TRACE_SERVICE, {"Export": grpc.unary_unary_rpc_method_handler(export)}
    )
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    server.add_generic_rpc_handlers((handler,))
    creds = grpc.ssl_server_credentials(
        [((certs / "server.key").read_bytes(), (certs / "server.pem").read_bytes())],
        root_certificates=(certs / "ca.pem").read_bytes() if client_auth else None,
        require_client_auth=client_auth,
    )
    port = server.add_secure_port("127.0.0.1:0", creds)
    server.start()
    try:
        yield port, got
    finally:
        server.stop(None)


def _send(sender: OtlpSender, body: bytes) -> str | None:
    try:
        return sender.send(body)
    finally:
        sender.close()


def test_an_https_downstream_is_verified_with_the_configured_ca(certs, monkeypatch):
    with https_server(certs) as (url, got):
        down = parse_downstream(url)
        problem = _send(sender_for(down, "logs"), b"first")
        assert problem is not None and "CERTIFICATE_VERIFY_FAILED" in problem
        assert got == []
        monkeypatch.setenv("OTEL_EXPORTER_OTLP_CERTIFICATE", str(certs / "ca.pem"))
        assert _send(sender_for(down, "logs"), b"logs") is None
        assert _send(sender_for(down), b"spans") is None
        # the signal's own variable comes first
        monkeypatch.setenv("OTEL_EXPORTER_OTLP_CERTIFICATE", str(certs / "missing.pem"))
        monkeypatch.setenv("OTEL_EXPORTER_OTLP_LOGS_CERTIFICATE", str(certs / "ca.pem"))
        assert _send(sender_for(down, "logs"), b"logs again") is None
        with pytest.raises(ValueError) as err:
            sender_for(down)
        assert str(err.value) == (
            f"OTEL_EXPORTER_OTLP_CERTIFICATE={certs / 'missing.pem'}: cannot read it: "
            "No such file or directory"
        )
    assert got == [("/v1/logs", b"logs"), ("/v1/traces", b"spans"), ("/v1/logs", b"logs again")]


def test_mutual_tls_over_https_uses_the_client_key_and_certificate(certs, monkeypatch):
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_CERTIFICATE", str(certs / "ca.pem"))
    with https_server(certs, client_auth=True) as (url, got):
        down = parse_downstream(url)
        assert _send(sender_for(down), b"no client certificate") is not None
        monkeypatch.setenv("OTEL_EXPORTER_OTLP_TRACES_CLIENT_KEY", str(certs / "client.key"))
        with pytest.raises(ValueError) as err:
            sender_for(down)
        assert str(err.value) == (
            "OTEL_EXPORTER_OTLP_TRACES_CLIENT_KEY is set but "
            "OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE is not: mutual TLS needs both the client key "
            "and the client certificate"
        )
        monkeypatch.setenv("OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE", str(certs / "client.pem"))
        assert _send(sender_for(down), b"spans") is None
    assert got == [("/v1/traces", b"spans")]


@pytest.mark.parametrize("client_auth", [False, True])
def test_grpc_with_tls_uses_the_configured_ca_and_client_files(certs, monkeypatch, client_auth):
    with grpc_tls_server(certs, client_auth) as (port, got):
        monkeypatch.setenv("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc")
        monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", f"https://localhost:{port}")
        env = Downstream("env")
        untrusted = sender_for(env)
        assert (untrusted.protocol, untrusted.target, untrusted.secure) == (
            "grpc",
            f"localhost:{port}",
            True,
        )
        assert _send(untrusted, b"untrusted") is not None
        monkeypatch.setenv("OTEL_EXPORTER_OTLP_TRACES_CERTIFICATE", str(certs / "ca.pem"))
        if client_auth:
            assert _send(sender_for(env), b"no client certificate") is not None
            monkeypatch.setenv("OTEL_EXPORTER_OTLP_CLIENT_KEY", str(certs / "client.key"))
            monkeypatch.setenv("OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE", str(certs / "client.pem"))
        assert _send(sender_for(env), b"spans") is None
    assert got == [b"spans"]


def test_a_file_that_is_no_certificate_is_named(certs, monkeypatch, tmp_path):
    bogus = tmp_path / "bogus.pem"
    bogus.write_text("not a certificate\n")
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc")
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "https://localhost:4317")
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_CERTIFICATE", str(bogus))
    with pytest.raises(ValueError) as err:
        sender_for(Downstream("env"))
    assert str(err.value).startswith(
        f"OTEL_EXPORTER_OTLP_CERTIFICATE={bogus}: not a certificate file: "
    )


@pytest.mark.parametrize("endpoint", ["http://c:4317", "https://c:4317", "c:4317"])
@pytest.mark.parametrize("general", [None, "true", "false"])
@pytest.mark.parametrize("own", [None, "true", "false"])
def test_grpc_plain_or_tls_is_decided_as_the_sdk_exporters_decide(
    monkeypatch, endpoint, general, own
):
    from opentelemetry.exporter.otlp.proto.grpc._log_exporter import OTLPLogExporter
    from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter

    monkeypatch.setenv("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc")
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint)
    if general is not None:
        monkeypatch.setenv("OTEL_EXPORTER_OTLP_INSECURE", general)
    for signal, sdk_exporter in (("traces", OTLPSpanExporter), ("logs", OTLPLogExporter)):
        if own is not None:
            monkeypatch.setenv(f"OTEL_EXPORTER_OTLP_{signal.upper()}_INSECURE", own)
        sdk = sdk_exporter()
        ours = sender_for(Downstream("env"), signal)
        try:
            assert (ours.target, ours.secure) == ("c:4317", not sdk._insecure)
        finally:
            ours.close()
            sdk.shutdown()
