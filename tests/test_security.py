"""Security properties: no unsafe deserialization or dynamic code, loopback-only listeners,
and size caps with clear errors on every input that can be large."""

from __future__ import annotations

import ast
import json
import logging
import re
from pathlib import Path

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from otel_replay.capture.checkpoint import checkpoint
from otel_replay.core import conventions as c
from otel_replay.formats.errors import RecordingError, RecordingFormatError, RecordingSizeError
from otel_replay.formats.exporter import RecordingExporter
from otel_replay.formats.files import load_recording, write_recording
from otel_replay.model.checkpoint import Checkpoint
from otel_replay.model.errors import CheckpointStateTooLargeError
from otel_replay.model.state import decode_state, encode_state, state_digest
from otel_replay.model.stores import DirectoryCheckpointStore, InMemoryCheckpointStore

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "otel_replay"

# --------------------------------------------------------------------------------------------
# No unsafe deserialization or dynamic code in the package

_BANNED_MODULES = {"pickle", "cPickle", "_pickle", "marshal", "shelve", "dill", "cloudpickle"}
_BANNED_CALLS = {"eval", "exec", "compile", "__import__"}
_BANNED_ATTR_CALLS = {
    ("importlib", "import_module"),
    ("yaml", "load"),
    ("yaml", "unsafe_load"),
    ("yaml", "full_load"),
    ("yaml", "load_all"),
    ("pickle", "loads"),
    ("pickle", "load"),
    ("marshal", "loads"),
}


def _package_files() -> list[Path]:
    files = [p for p in PACKAGE.rglob("*.py") if "_proto" not in p.relative_to(PACKAGE).parts]
    assert len(files) > 10
    return files


def _violations(source: str, name: str) -> list[str]:
    tree = ast.parse(source, filename=name)
    imported_as: dict[str, str] = {}  # local name -> module
    out: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                root = alias.name.split(".")[0]
                imported_as[alias.asname or root] = alias.name
                if root in _BANNED_MODULES:
                    out.append(f"{name}:{node.lineno}: import {alias.name}")
        elif isinstance(node, ast.ImportFrom):
            mod = node.module or ""
            if mod.split(".")[0] in _BANNED_MODULES:
                out.append(f"{name}:{node.lineno}: from {mod} import ...")
            for alias in node.names:
                if (mod, alias.name) in _BANNED_ATTR_CALLS or alias.name in _BANNED_CALLS:
                    out.append(f"{name}:{node.lineno}: from {mod} import {alias.name}")
        elif isinstance(node, ast.Call):
            fn = node.func
            if isinstance(fn, ast.Name) and fn.id in _BANNED_CALLS:
                out.append(f"{name}:{node.lineno}: {fn.id}(...)")
            elif isinstance(fn, ast.Attribute) and isinstance(fn.value, ast.Name):
                mod = imported_as.get(fn.value.id, fn.value.id).split(".")[0]
                if (mod, fn.attr) in _BANNED_ATTR_CALLS or (
                    mod == "builtins" and fn.attr in _BANNED_CALLS
                ):
                    out.append(f"{name}:{node.lineno}: {fn.value.id}.{fn.attr}(...)")
            elif isinstance(fn, ast.Attribute) and fn.attr == "import_module":
                out.append(f"{name}:{node.lineno}: ....import_module(...)")
    return out


def test_no_pickle_marshal_eval_exec_or_dynamic_imports_in_package():
    problems: list[str] = []
    for path in _package_files():
        problems += _violations(path.read_text(encoding="utf-8"), str(path.relative_to(ROOT)))
    assert problems == []


@pytest.mark.parametrize(
    "snippet",
    [
        "import pickle",
        "import marshal as m",
        "from shelve import open",
        "eval('1')",
        "exec('x=1')",
        "__import__(name)",
        "import importlib\nimportlib.import_module(name)",
        "from importlib import import_module",
        "import yaml\nyaml.load(text)",
        "import builtins\nbuiltins.eval('1')",
    ],
)
def test_the_scanner_catches_each_banned_construct(snippet):
    assert _violations(snippet, "x.py")


def test_the_scanner_allows_safe_lookalikes():
    ok = "import json\nimport yaml\njson.loads('1')\nyaml.safe_load('a: 1')\nsig.bind(1)\nre.compile('x')"
    assert _violations(ok, "x.py") == []


# --------------------------------------------------------------------------------------------
# Listeners bind to loopback unless told otherwise

_WILDCARDS = ("0.0.0.0", "::", "[::]", "*")
_BIND_FUNCS = {
    "bind",
    "create_server",
    "add_insecure_port",
    "add_secure_port",
    "start_http_server",
    "make_server",
    "listen",
    "run",
    "serve",
    "HTTPServer",
    "ThreadingHTTPServer",
    "TCPServer",
    "ThreadingTCPServer",
    "UDPServer",
}
_HOST_NAMES = re.compile(r"(?i)host|addr|bind|listen|endpoint")
_LOOPBACK = re.compile(r"127\.0\.0\.1|localhost|\[::1\]|::1\b")


def _is_wildcard(value: object) -> bool:
    if not isinstance(value, str):
        return False
    v = value.strip()
    if v in _WILDCARDS:
        return True
    return v.startswith(("0.0.0.0:", "[::]:", ":::")) or bool(re.fullmatch(r":\d{1,5}", v))


def _python_binds(source: str, name: str) -> list[str]:
    """Wildcard addresses passed to bind-like calls, as host keywords or env defaults."""
    out: list[str] = []
    for node in ast.walk(ast.parse(source, filename=name)):
        if isinstance(node, ast.Call):
            fn = node.func
            fname = fn.attr if isinstance(fn, ast.Attribute) else getattr(fn, "id", "")
            args = list(node.args)
            for kw in node.keywords:
                if kw.arg and _HOST_NAMES.search(kw.arg):
                    args.append(kw.value)
                elif fname in _BIND_FUNCS:
                    args.append(kw.value)
            if fname in ("get", "getenv", "setdefault") and len(node.args) == 2:
                key = node.args[0]
                if isinstance(key, ast.Constant) and _HOST_NAMES.search(str(key.value)):
                    args = [node.args[1]]
                else:
                    args = []
            elif fname not in _BIND_FUNCS:
                args = [a for a in args if a not in node.args]
            for a in args:
                for sub in ast.walk(a):
                    if isinstance(sub, ast.Constant) and _is_wildcard(sub.value):
                        out.append(f"{name}:{node.lineno}: {fname}(... {sub.value!r} ...)")
        elif isinstance(node, ast.Assign):
            targets = [t.id for t in node.targets if isinstance(t, ast.Name)]
            if any(_HOST_NAMES.search(t) for t in targets) and isinstance(node.value, ast.Constant):
                if _is_wildcard(node.value.value):
                    out.append(f"{name}:{node.lineno}: {targets[0]} = {node.value.value!r}")
    return out


_TEXT_WILDCARD = re.compile(r"0\.0\.0\.0|\[::\]|(?<![\w:])::(?![\w:])|[=\s\"']:\d{2,5}\b|:-:\d")
_LISTENER_KEY = re.compile(
    r"^\s*-?\s*(endpoint|address|listen_address|listen|host|bind)\s*:\s*(\S.*)$"
)


def _text_binds(text: str, name: str, yaml_keys: bool) -> list[str]:
    out: list[str] = []
    for i, line in enumerate(text.splitlines(), 1):
        code = line.split("#", 1)[0] if not line.lstrip().startswith("#") else ""
        if not code.strip():
            continue
        if _TEXT_WILDCARD.search(code):
            out.append(f"{name}:{i}: {line.strip()}")
            continue
        m = _LISTENER_KEY.match(code) if yaml_keys else None
        if m and not _LOOPBACK.search(m.group(2)):
            value = m.group(2).strip().strip("\"'")
            # a bare port or an env var without a loopback default binds wherever it says
            if re.fullmatch(r"\d+", value) or value.startswith("${"):
                out.append(f"{name}:{i}: {line.strip()} (no loopback default)")
    return out


def _scanned_files() -> list[Path]:
    files = [p for p in PACKAGE.rglob("*.py") if "_proto" not in p.parts]
    for d in ("scripts", "deploy"):
        files += [p for p in (ROOT / d).rglob("*") if p.is_file()]
    cfg = ROOT / "collector-config.yaml"
    if cfg.exists():
        files.append(cfg)
    return files


def test_listeners_and_endpoints_default_to_loopback():
    problems: list[str] = []
    for path in _scanned_files():
        rel = str(path.relative_to(ROOT))
        try:
            text = path.read_text(encoding="utf-8")
        except (UnicodeDecodeError, OSError):
            continue
        if path.suffix == ".py":
            problems += _python_binds(text, rel)
        elif path.suffix in (".yaml", ".yml", ".sh", ".json", ".toml", ".conf", ".cfg", ""):
            problems += _text_binds(text, rel, yaml_keys=path.suffix in (".yaml", ".yml"))
    assert problems == []


@pytest.mark.parametrize(
    ("source", "bad"),
    [
        ("HTTPServer(('0.0.0.0', 8080), H)", True),
        ("s.bind(('', 80))", False),
        ("server.add_insecure_port('[::]:4317')", True),
        ("uvicorn.run(app, host='0.0.0.0')", True),
        ("os.environ.get('PHOENIX_HOST', '0.0.0.0')", True),
        ("os.environ.get('PHOENIX_HOST', '127.0.0.1')", False),
        ("LISTEN_ADDR = '::'", True),
        ("for w in ('[::]:', '0.0.0.0:'):\n    pass", False),
        ("HTTPServer(('127.0.0.1', 0), H)", False),
    ],
)
def test_python_bind_scanner(source, bad):
    assert bool(_python_binds(source, "x.py")) is bad


@pytest.mark.parametrize(
    ("text", "bad"),
    [
        ("endpoint: 0.0.0.0:4317", True),
        ("endpoint: ${env:X:-127.0.0.1:4317}", False),
        ("endpoint: ${env:X}", True),
        ("endpoint: ${env:X:-:4317}", True),
        ("--web.listen-address=:9090", True),
        ("--web.listen-address=127.0.0.1:9090", False),
        ("# listens on 0.0.0.0 in production", False),
        ("host: 127.0.0.1", False),
        ('url: "http://[::]:8080"', True),
    ],
)
def test_text_bind_scanner(text, bad):
    assert bool(_text_binds(text, "x.yaml", yaml_keys=True)) is bad


# --------------------------------------------------------------------------------------------
# Size caps with clear errors


@pytest.fixture
def tracer():
    provider = TracerProvider()
    exporter = InMemorySpanExporter()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    yield provider.get_tracer("t"), exporter
    provider.shutdown()


def test_checkpoint_state_over_the_cap_raises_before_anything_is_emitted(tracer, monkeypatch):
    t, exporter = tracer
    big = {"blob": "x" * 5000}
    with pytest.raises(CheckpointStateTooLargeError, match=r"over the cap of 1000 bytes") as ei:
        checkpoint(big, max_bytes=1000, store=InMemoryCheckpointStore(), tracer=t)
    assert ei.value.cap == 1000 and ei.value.size > 5000
    monkeypatch.setenv(c.ENV_STATE_MAX_BYTES, "2000")
    with pytest.raises(CheckpointStateTooLargeError, match="over the cap of 2000 bytes"):
        checkpoint(big, store=InMemoryCheckpointStore(), tracer=t)
    # over the inline cap without a store: a clear pointer to the fix
    monkeypatch.delenv(c.ENV_STATE_MAX_BYTES)
    with pytest.raises(CheckpointStateTooLargeError, match="configure a CheckpointStore"):
        checkpoint(big, inline_max_bytes=100, store=None, tracer=t)
    assert exporter.get_finished_spans() == ()


def test_decoding_state_over_the_cap_raises(tmp_path):
    data = encode_state({"data": {"blob": "y" * 10_000}})
    with pytest.raises(CheckpointStateTooLargeError, match="over the cap of 100 bytes"):
        decode_state(data, max_bytes=100)
    ck = Checkpoint(
        id="c1",
        session_id="s",
        sequence=1,
        framework="custom",
        label=None,
        created_time_unix_nano=1,
        parent_id=None,
        state_digest=state_digest(data),
        state_size=len(data),
        state_json=data,
    )
    with pytest.raises(CheckpointStateTooLargeError):
        ck.load_state(max_bytes=1000)
    assert ck.load_state()["data"]["blob"] == "y" * 10_000

    store = DirectoryCheckpointStore(tmp_path, max_bytes=512)
    (tmp_path / "big.binpb").write_bytes(b"\0" * 4096)
    with pytest.raises(CheckpointStateTooLargeError, match="checkpoint file"):
        store.get("big")


def _spans(n: int, payload: str = "p"):
    provider = TracerProvider()
    exporter = InMemorySpanExporter()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    t = provider.get_tracer("t")
    for i in range(n):
        with t.start_as_current_span(f"s{i}", attributes={"payload": payload}):
            pass
    provider.shutdown()
    return list(exporter.get_finished_spans())


def test_recording_line_frame_and_file_caps(tmp_path, monkeypatch):
    spans = _spans(3, "z" * 20_000)
    jl = write_recording(tmp_path / "r.jsonl", spans)
    pb = write_recording(tmp_path / "r.binpb", spans, format="protobuf")
    with pytest.raises(RecordingSizeError, match=r"r\.jsonl:1: line is longer than the cap"):
        load_recording(jl, max_bytes=10_000)
    with pytest.raises(RecordingError, match=r"frame length \d+ exceeds the cap of 10000"):
        load_recording(pb, max_bytes=10_000)
    with pytest.raises(RecordingSizeError, match="larger than the cap of 1000 bytes"):
        load_recording(jl, max_file_bytes=1000)
    monkeypatch.setenv(c.ENV_RECORDING_MAX_LINE_BYTES, "5000")
    with pytest.raises(RecordingSizeError, match=c.ENV_RECORDING_MAX_LINE_BYTES):
        load_recording(jl)
    monkeypatch.delenv(c.ENV_RECORDING_MAX_LINE_BYTES)
    assert len(load_recording(jl).spans) == 3
    assert len(load_recording(pb).spans) == 3


def test_a_forged_frame_length_does_not_allocate(tmp_path):
    path = tmp_path / "forged.binpb"
    path.write_bytes((2**32 - 1).to_bytes(4, "big") + b"\x0a\x00")
    with pytest.raises(RecordingFormatError, match="exceeds the cap"):
        load_recording(path)


def test_recording_exporter_size_cap_fails_and_logs_once(tmp_path, caplog):
    spans = _spans(20, "w" * 500)
    exporter = RecordingExporter(tmp_path / "capped.jsonl", max_bytes=4000)
    with caplog.at_level(logging.ERROR, logger="otel_replay"):
        results = [exporter.export([s]).name for s in spans]
    assert "SUCCESS" in results and results[-1] == "FAILURE"
    assert exporter.failures == results.count("FAILURE")
    assert [r.getMessage() for r in caplog.records if "size cap" in r.getMessage()] == [
        caplog.records[0].getMessage()
    ]
    assert (tmp_path / "capped.jsonl").stat().st_size <= 4000
    rec = load_recording(tmp_path / "capped.jsonl")
    assert len(rec.spans) == results.count("SUCCESS")
    exporter.shutdown()


def test_checkpoint_ids_cannot_escape_the_store_directory(tmp_path):
    from otel_replay.model.errors import CheckpointStoreError

    store = DirectoryCheckpointStore(tmp_path / "store")
    for bad in ("../etc/passwd", "a/b", "/abs", "", "x" * 200, "a\x00b", "a\\b"):
        with pytest.raises(CheckpointStoreError, match="invalid checkpoint id"):
            store.get(bad)
    assert not (tmp_path / "etc").exists()


def test_state_is_json_only():
    class Evil:
        def __reduce__(self):  # pragma: no cover - never called
            raise AssertionError("pickled")

    from otel_replay.model.errors import CheckpointStateError
    from otel_replay.model.state import normalize_state

    with pytest.raises(CheckpointStateError, match="not JSON-serializable"):
        normalize_state("custom", {"x": Evil()})
    with pytest.raises(CheckpointStateError, match="non-standard JSON constant|not valid JSON"):
        decode_state(b'{"x": NaN}')
    assert json.loads(encode_state({"a": [1, "b"]})) == {"a": [1, "b"]}
