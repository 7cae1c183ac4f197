"""Reading an OTLP request without decoding its spans: each span stays its serialized bytes
(:data:`SpanBytesTracesData`), in which the few attributes the worker reads are found by
their serialized prefix; the worker attribute is appended to each span's bytes; the spans of
restored runs are taken out (and only they are decoded, for the comparison); the rest of the
request is forwarded as it is.

Protobuf allows a repeated field's entries anywhere in a message, so a ``KeyValue`` appended
to a serialized ``Span`` (field 9, ``attributes``) is one more attribute of that span.
"""

from __future__ import annotations

from collections.abc import Collection, Container
from dataclasses import dataclass, field
from typing import Any

from opentelemetry.proto.common.v1.common_pb2 import KeyValue
from opentelemetry.proto.trace.v1.trace_pb2 import Span

from otel_replay.core import conventions as c
from otel_replay.formats.otlp_proto import traces_data_with_bytes_fields
from otel_replay.serve.baselines import Provenance

__all__ = ["Scan", "scan", "might_hold", "extract", "worker_field", "SpanBytesTracesData"]


#: ``TracesData`` whose spans stay serialized (``bytes``).
SpanBytesTracesData: Any = traces_data_with_bytes_fields({("ScopeSpans", "spans")})

_SESSION = c.SESSION_ID
_WORKER = c.SERVE_WORKER
_ATTRIBUTES_TAG = b"\x4a"  # Span field 9 (attributes), length-delimited


def _varint_bytes(n: int) -> bytes:
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def _prefix(key: str) -> bytes:
    """How a serialized KeyValue with ``key`` (< 128 bytes) starts: tag 1, length, key."""
    raw = key.encode()
    return b"\n" + bytes([len(raw)]) + raw


_SESSION_PREFIX = _prefix(_SESSION)
_CHECKPOINT_PREFIX = _prefix(c.REPLAY_CHECKPOINT_ID)
_RUN_PREFIX = _prefix(c.REPLAY_RUN_ID)
_SOURCE_SESSION_PREFIX = _prefix(c.REPLAY_SOURCE_SESSION_ID)
_SOURCE_TRACE_PREFIX = _prefix(c.REPLAY_SOURCE_TRACE_ID)
_WORKER_PREFIX = _prefix(_WORKER)
_FEW = 8  # up to this many sessions to hold, spans are searched for their ids


def worker_field(worker_id: str) -> bytes:
    """The ``agent_replay.serve.worker`` attribute as bytes to append to a serialized span."""
    kv = KeyValue(key=_WORKER)
    kv.value.string_value = worker_id
    raw = kv.SerializeToString()
    return _ATTRIBUTES_TAG + _varint_bytes(len(raw)) + raw


def _varint(blob: bytes, i: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        b = blob[i]
        i += 1
        value |= (b & 0x7F) << shift
        if b < 0x80:
            return value, i
        shift += 7


def _string_at(blob: bytes, prefix: bytes) -> str | None:
    """The string value of the first serialized KeyValue whose key is ``prefix``'s in the
    serialized span ``blob`` (span attributes precede events and links), or ``None``.

    Protobuf leaves field order free: the Python SDK writes ``key`` (tag 1) before ``value``
    (tag 2, an AnyValue whose ``string_value`` is tag 1), the Collector (Go pdata) writes
    ``value`` first. Both short forms are read from the bytes; anything else decodes the span.
    """
    i = blob.find(prefix)
    if i < 0:
        return None
    try:
        j = i + len(prefix)
        n = blob[j + 3] if j + 3 < len(blob) else 0xFF
        if blob[j] == 0x12 and blob[j + 1] < 0x80 and blob[j + 2] == 0x0A and n < 0x80:
            if n + 2 <= blob[j + 1]:  # key first, short value: one-byte lengths
                return blob[j + 4 : j + 4 + n].decode("utf-8")
        found = _value_before(blob, i, len(prefix))
        if found is not None:
            return found
    except (IndexError, UnicodeDecodeError):
        pass
    return _decoded_string(blob, prefix)


def _value_before(blob: bytes, i: int, key_len: int) -> str | None:
    """The value-first form ending at the key ``blob[i:i + key_len]`` (one-byte lengths):
    ``0x4A L 0x12 m 0x0A n <n bytes> <key>`` with ``m = n + 2`` and ``L = m + 2 + key_len``."""
    for n in range(min(i - 6, 0x7D) + 1):
        s = i - n
        if (
            blob[s - 1] == n
            and blob[s - 2] == 0x0A
            and blob[s - 3] == n + 2
            and blob[s - 4] == 0x12
            and blob[s - 5] == n + 4 + key_len
            and blob[s - 6] == 0x4A
        ):
            return blob[s:i].decode("utf-8")
    return None


def _decoded_string(blob: bytes, prefix: bytes) -> str | None:
    """The slow path: decode the span and read the attribute (``prefix`` names its key)."""
    key = prefix[2:].decode()
    try:
        span = Span.FromString(blob)
    except Exception:
        return None
    for kv in span.attributes:
        if kv.key == key:
            v = kv.value
            return v.string_value if v.WhichOneof("value") == "string_value" else None
    return None


def _restamp(blob: bytes, stamp: bytes) -> bytes:
    """A span already stamped by a worker: its old worker attribute replaced by ``stamp``."""
    span = Span.FromString(blob)
    kept = [kv for kv in span.attributes if kv.key != _WORKER]
    del span.attributes[:]
    span.attributes.extend(kept)
    return span.SerializeToString() + stamp


@dataclass
class Scan:
    """What one request holds: ``held`` (resource, scope, span) positions of the spans of
    restored runs, ``new`` the restored runs seen for the first time, by session."""

    count: int = 0
    held: list[tuple[int, int, int]] = field(default_factory=list)
    new: dict[str, Provenance] = field(default_factory=dict)


def might_hold(body: bytes, held: Collection[str]) -> bool:
    """Whether the request ``body`` may hold spans of restored runs: a checkpoint id, or the
    session id of a held run (``held``, a collection of them) appears in it."""
    if _CHECKPOINT_PREFIX in body:
        return True
    if not held:
        return False
    if len(held) > 64:
        return True
    return any(sid.encode() in body for sid in list(held))


def scan(
    td: Any, held: Collection[str], done: Container[str], stamp: bytes, sessions: bool = True
) -> Scan:
    """Classify every span of ``td`` (a :data:`SpanBytesTracesData`: sessions in ``held``
    are held; a span with ``agent_replay.replay.checkpoint_id`` starts a restored run unless
    its session is ``done``) and append ``stamp`` (:func:`worker_field`) to each. With
    ``sessions=False`` (:func:`might_hold` said no) only the stamp is appended.

    The sessions to hold are found first (held runs, and the sessions of spans carrying a
    checkpoint id); a span is then read only if their id occurs in its bytes."""
    out = Scan()
    new = out.new
    groups: list[tuple[int, int, list[bytes]]] = []
    for ri, rs in enumerate(td.resource_spans):
        for si, ss in enumerate(rs.scope_spans):
            spans = list(ss.spans)
            out.count += len(spans)
            ss.spans[:] = [
                b + stamp if _WORKER_PREFIX not in b else _restamp(b, stamp) for b in spans
            ]
            if sessions:
                groups.append((ri, si, spans))
    if not groups:
        return out
    for _ri, _si, spans in groups:
        for blob in spans:
            if _CHECKPOINT_PREFIX not in blob:
                continue
            sid = _string_at(blob, _SESSION_PREFIX)
            if not sid or sid in held or sid in new or sid in done:
                continue
            ckpt = _string_at(blob, _CHECKPOINT_PREFIX)
            if ckpt:
                new[sid] = Provenance(
                    session_id=sid,
                    checkpoint_id=ckpt,
                    run_id=_string_at(blob, _RUN_PREFIX),
                    source_session_id=_string_at(blob, _SOURCE_SESSION_PREFIX),
                    source_trace_id=_string_at(blob, _SOURCE_TRACE_PREFIX),
                )
    positions = out.held
    if len(held) + len(new) <= _FEW:
        targets = [(t, t.encode()) for t in (*list(held), *new)]
        for ri, si, spans in groups:
            for pi, blob in enumerate(spans):
                for sid, raw in targets:
                    if raw in blob and _string_at(blob, _SESSION_PREFIX) == sid:
                        positions.append((ri, si, pi))
                        break
        return out
    for ri, si, spans in groups:
        for pi, blob in enumerate(spans):
            sid = _string_at(blob, _SESSION_PREFIX)
            if sid and (sid in held or sid in new):
                positions.append((ri, si, pi))
    return out


def extract(td: Any, positions: list[tuple[int, int, int]]) -> bytes:
    """Move the spans at ``positions`` out of ``td``; they are returned as one serialized
    ``TracesData`` (with their resources and scopes)."""
    out = type(td)()
    groups: dict[tuple[int, int], list[int]] = {}
    for ri, si, pi in positions:
        groups.setdefault((ri, si), []).append(pi)
    resources: dict[int, Any] = {}
    for (ri, si), idxs in groups.items():
        rs = td.resource_spans[ri]
        ss = rs.scope_spans[si]
        ors = resources.get(ri)
        if ors is None:
            ors = resources[ri] = out.resource_spans.add()
            ors.resource.CopyFrom(rs.resource)
            ors.schema_url = rs.schema_url
        oss = ors.scope_spans.add()
        oss.scope.CopyFrom(ss.scope)
        oss.schema_url = ss.schema_url
        taken = set(idxs)
        spans = list(ss.spans)
        oss.spans.extend(spans[i] for i in idxs)
        ss.spans[:] = [b for i, b in enumerate(spans) if i not in taken]
    return bytes(out.SerializeToString())
