"""Run ``phoenix serve`` with every listener on loopback.

Phoenix binds its HTTP server to ``PHOENIX_HOST`` but its OTLP/gRPC server always to ``[::]``
(there is no host setting for it). This launcher rewrites that bind address to
``PHOENIX_GRPC_HOST`` (default 127.0.0.1) and then runs the normal CLI, so
``<phoenix-venv>/bin/python phoenix_serve.py serve`` == ``phoenix serve`` on loopback (it also
defaults a few PHOENIX_* settings, see below; set them to override).
"""

import os
import sys

import grpc.aio

_HOST = os.environ.get("PHOENIX_GRPC_HOST", "127.0.0.1")


def _loopback(address: str) -> str:
    for wildcard in ("[::]:", "0.0.0.0:"):
        if address.startswith(wildcard):
            return f"{_HOST}:{address[len(wildcard) :]}"
    return address


def _patch(server_factory):
    def server(*args, **kwargs):
        srv = server_factory(*args, **kwargs)
        insecure, secure = srv.add_insecure_port, srv.add_secure_port
        srv.add_insecure_port = lambda address: insecure(_loopback(address))
        srv.add_secure_port = lambda address, creds: secure(_loopback(address), creds)
        return srv

    return server


grpc.aio.server = _patch(grpc.aio.server)

if __name__ == "__main__":
    # loopback, no product analytics, no in-app agent assistant (it can reach the web and run
    # server-side bash), quiet SQL logging
    os.environ.setdefault("PHOENIX_HOST", "127.0.0.1")
    os.environ.setdefault("PHOENIX_TELEMETRY_ENABLED", "false")
    os.environ.setdefault("PHOENIX_DISABLE_AGENT_ASSISTANT", "true")
    os.environ.setdefault("PHOENIX_DB_LOGGING_LEVEL", "warning")
    from phoenix.server.main import main

    sys.argv[0] = "phoenix"
    sys.exit(main())
