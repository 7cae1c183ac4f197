"""Reading an OTLP request without decoding its spans: each span stays its serialized bytes
(:data:`SpanBytesTracesData`), in which the few attributes the worker reads are found by
their serialized prefix; the worker attribute is appended to each span's bytes; the spans of
restored runs are taken out (and only they are decoded, for the comparison); the rest of the
request is forwarded as it is.

Protobuf allows a repeated field's entries anywhere in a message, so a ``KeyValue`` appended
to a serialized ``Span`` (field 9, ``attributes``) is one more attribute of that span.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Collection, Container
from dataclasses import dataclass, field
from itertools import accumulate, compress, count
from operator import itemgetter
from typing import Any

from google.protobuf.unknown_fields import UnknownFieldSet
from opentelemetry.proto.common.v1.common_pb2 import KeyValue
from opentelemetry.proto.trace.v1.trace_pb2 import Span

from otel_replay.core import conventions as c
from otel_replay.formats.otlp_proto import traces_data_with_bytes_fields
from otel_replay.formats.protowire import varint
from otel_replay.serve.baselines import Provenance

__all__ = [
    "Scan",
    "scan",
    "might_hold",
    "extract",
    "request",
    "traces_of",
    "Origin",
    "RECEIVED",
    "worker_field",
    "SpanBytesTracesData",
]


#: ``TracesData`` whose spans stay serialized (``bytes``).
SpanBytesTracesData: Any = traces_data_with_bytes_fields({("ScopeSpans", "spans")})

_SESSION = c.SESSION_ID
_WORKER = c.SERVE_WORKER
_ATTRIBUTES_TAG = b"\x4a"  # Span field 9 (attributes), length-delimited


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


def worker_field(worker_id: str) -> bytes:
    """The ``agent_replay.serve.worker`` attribute as bytes to append to a serialized span."""
    kv = KeyValue(key=_WORKER)
    kv.value.string_value = worker_id
    raw = kv.SerializeToString()
    return _ATTRIBUTES_TAG + varint(len(raw)) + raw


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


def _unstamped(blob: bytes) -> bytes:
    """A span already stamped by a worker, without its worker attribute."""
    span = Span.FromString(blob)
    kept = [kv for kv in span.attributes if kv.key != _WORKER]
    del span.attributes[:]
    span.attributes.extend(kept)
    return span.SerializeToString()


@dataclass
class Scan:
    """What one request holds: ``held`` (resource, scope, span) positions of the spans of
    restored runs, ``new`` the restored runs seen for the first time, by session; ``stamp``
    the worker attribute :func:`request` and :func:`extract` append to each span; ``spans``
    the bytes of the spans of each (resource, scope) when they were read."""

    count: int = 0
    held: list[tuple[int, int, int]] = field(default_factory=list)
    new: dict[str, Provenance] = field(default_factory=dict)
    stamp: bytes = b""
    spans: dict[tuple[int, int], list[bytes]] | None = None


def might_hold(body: bytes, held: Collection[str]) -> bool:
    """Whether the request ``body`` may hold spans of restored runs: a checkpoint id appears
    in it, or runs are held (``held``, their sessions: :func:`scan` looks for them)."""
    return bool(held) or _CHECKPOINT_PREFIX in body


def scan(
    td: Any,
    held: Collection[str],
    done: Container[str],
    stamp: bytes,
    sessions: bool = True,
    body: bytes | None = None,
) -> Scan:
    """Classify every span of ``td`` (a :data:`SpanBytesTracesData`: sessions in ``held``
    are held; a span with ``agent_replay.replay.checkpoint_id`` starts a restored run unless
    its session is ``done``). ``stamp`` (:func:`worker_field`) is appended to each span when
    the request is serialized (:func:`request`, :func:`extract`), not written into ``td``
    (protobuf re-serializing every span costs more than the rest of the admission); spans
    already stamped by a worker lose that attribute here. With ``sessions=False``
    (:func:`might_hold` said no) the spans are only counted. ``body``, the request's bytes,
    spares a per-span test for spans already stamped by a worker.

    The spans' bytes are searched as one string (in C): for the checkpoint-id key, then for
    the session attribute of the sessions to hold; only the spans found are read."""
    out = Scan(stamp=stamp)
    groups: list[tuple[int, int, list[bytes]]] = []
    restamp = body is None or _WORKER_PREFIX in body
    for ri, rs in enumerate(td.resource_spans):
        for si, ss in enumerate(rs.scope_spans):
            if not (sessions or restamp):
                out.count += len(ss.spans)
                continue
            spans = list(ss.spans)
            out.count += len(spans)
            if out.spans is None:
                out.spans = {}
            out.spans[ri, si] = spans
            if restamp:
                for i, b in enumerate(spans):
                    if _WORKER_PREFIX in b:
                        spans[i] = ss.spans[i] = _unstamped(b)
            if sessions and spans:
                groups.append((ri, si, spans))
    if groups:
        _find_held(out, groups, held, done)
    return out


def request(
    td: Any,
    stamp: bytes,
    spans: dict[tuple[int, int], list[bytes]] | None = None,
    skip: Collection[tuple[int, int, int]] = (),
) -> bytes:
    """``td`` (a :data:`SpanBytesTracesData`) serialized with ``stamp`` appended to each of
    its spans: the bytes ``td.SerializeToString()`` gives once every span is stamped, joined
    from the spans' bytes (protobuf re-serializing them costs several times more). ``spans``,
    the spans' bytes :func:`scan` read (:attr:`Scan.spans`), spares reading them again; the
    spans at its positions ``skip`` are left out (those :func:`extract` took out of ``td``)."""
    if spans is not None and skip:
        spans = _without(spans, skip)
    if _unknown(td):
        return _request_copy(td, stamp, spans)
    heads = _SPAN_HEADS.get(stamp)
    if heads is None:
        if len(_SPAN_HEADS) >= _STAMPS_KEPT:
            _SPAN_HEADS.clear()
        heads = _SPAN_HEADS[stamp] = {}
    pieces: list[bytes] = []
    for ri, rs in enumerate(td.resource_spans):
        if _unknown(rs):
            return _request_copy(td, stamp, spans)
        inner: list[bytes] = []
        size = 0
        if rs.HasField("resource"):
            size += _message_field(inner, 0x0A, rs.resource.SerializeToString())
        for si, ss in enumerate(rs.scope_spans):
            if _unknown(ss):
                return _request_copy(td, stamp, spans)
            scope: list[bytes] = []
            n = 0
            if ss.HasField("scope"):
                n += _message_field(scope, 0x0A, ss.scope.SerializeToString())
            own = list(ss.spans) if spans is None else spans[ri, si]
            if own:
                lens = list(map(len, own))
                missing = set(lens).difference(heads)
                if missing:
                    if len(heads) + len(missing) > _SPAN_HEADS_KEPT:  # a new table (another
                        heads = _SPAN_HEADS[stamp] = {}  # thread may be reading the old one)
                        missing = set(lens)
                    for k in missing:
                        heads[k] = stamp + b"\x12" + varint(k + len(stamp))
                # each span's bytes follow the stamp of the one before and its own tag, length
                chunk: list[bytes] = [b""] * (2 * len(own))
                chunk[0::2] = map(heads.__getitem__, lens)
                chunk[1::2] = own
                n += sum(lens) + sum(map(len, chunk[0::2]))
                chunk[0] = chunk[0][len(stamp) :]
                chunk.append(stamp)
                scope += chunk
            if ss.schema_url:
                n += _message_field(scope, 0x1A, ss.schema_url.encode())
            head = b"\x12" + varint(n)
            inner.append(head)
            inner += scope
            size += len(head) + n
        if rs.schema_url:
            size += _message_field(inner, 0x1A, rs.schema_url.encode())
        pieces.append(b"\x0a" + varint(size))
        pieces += inner
    return b"".join(pieces)


def _message_field(pieces: list[bytes], tag: int, raw: bytes) -> int:
    """Append the length-delimited field ``tag`` holding ``raw``; its size in bytes."""
    head = bytes([tag]) + varint(len(raw))
    pieces.append(head)
    pieces.append(raw)
    return len(head) + len(raw)


def _without(
    spans: dict[tuple[int, int], list[bytes]], skip: Collection[tuple[int, int, int]]
) -> dict[tuple[int, int], list[bytes]]:
    """``spans`` without the spans at positions ``skip``."""
    by_scope: dict[tuple[int, int], set[int]] = {}
    for ri, si, pi in skip:
        by_scope.setdefault((ri, si), set()).add(pi)
    out = dict(spans)
    for key, positions in by_scope.items():
        kept = list(out[key])
        for pi in sorted(positions, reverse=True):
            del kept[pi]
        out[key] = kept
    return out


def _request_copy(td: Any, stamp: bytes, spans: dict[tuple[int, int], list[bytes]] | None) -> bytes:
    """:func:`request` for a request with fields this proto does not know: a stamped copy
    serialized by protobuf (which keeps them where it keeps them)."""
    copy = type(td)()
    copy.CopyFrom(td)
    for ri, rs in enumerate(copy.resource_spans):
        for si, ss in enumerate(rs.scope_spans):
            own = list(ss.spans) if spans is None else spans[ri, si]
            stamped = [b + stamp for b in own]
            ss.ClearField("spans")
            ss.spans.extend(stamped)
    return bytes(copy.SerializeToString())


def _unknown(message: Any) -> int:
    """How many fields of ``message`` itself this proto does not know."""
    return len(UnknownFieldSet(message))


#: By stamp, by a span's length: the stamp and the tag and length of the stamped span
#: (some hundreds of lengths are in use; one stamp per worker).
_SPAN_HEADS: dict[bytes, dict[int, bytes]] = {}
_SPAN_HEADS_KEPT = 4096
_STAMPS_KEPT = 8


def _find_held(
    out: Scan,
    groups: list[tuple[int, int, list[bytes]]],
    held: Collection[str],
    done: Container[str],
) -> None:
    blobs = [b for _ri, _si, spans in groups for b in spans]
    joined = b"".join(blobs)
    ends = list(accumulate(map(len, blobs)))
    new = out.new
    candidates: dict[int, str | None] = {}  # spans with a checkpoint id: their session
    last: str | None = None  # the session of the last candidate, if it needs no more reading
    i = joined.find(_CHECKPOINT_PREFIX)
    while i >= 0:
        k = bisect_right(ends, i)
        blob = blobs[k]
        sid = candidates[k] = _string_at(blob, _SESSION_PREFIX)
        if sid == last:  # (a run's spans are mostly adjacent)
            pass
        elif sid and sid not in held and sid not in new and sid not in done:
            ckpt = _string_at(blob, _CHECKPOINT_PREFIX)
            if ckpt:
                new[sid] = Provenance(
                    session_id=sid,
                    checkpoint_id=ckpt,
                    run_id=_string_at(blob, _RUN_PREFIX),
                    source_session_id=_string_at(blob, _SOURCE_SESSION_PREFIX),
                    source_trace_id=_string_at(blob, _SOURCE_TRACE_PREFIX),
                )
                last = sid
        else:
            last = sid
        i = joined.find(_CHECKPOINT_PREFIX, ends[k])
    targets = {*held, *new}
    if not targets:
        return
    found = {k for k, sid in candidates.items() if sid in targets}
    # Searching the bytes for a session id costs about as much as reading them once (ids of
    # hex digits in text defeat the substring search's skips): for a few sessions each id is
    # searched; for more, the session attributes are read in one split of the bytes, and
    # only when they show spans of these sessions without a checkpoint id are those read.
    if len(targets) <= _SEARCHED_IDS:
        for t in targets:
            found.update(_spans_with(joined, ends, blobs, t, t.encode()))
    else:
        more = _spans_of_sessions(joined, ends, blobs, targets, len(found))
        if more is None:  # another form: every span is read
            found = {k for k, b in enumerate(blobs) if _string_at(b, _SESSION_PREFIX) in targets}
        else:
            found.update(more)
    # (resource, scope, span) of each found span; no tuple per span (garbage collections)
    firsts = list(accumulate((len(spans) for _ri, _si, spans in groups), initial=0))
    for k in sorted(found):
        g = bisect_right(firsts, k) - 1
        ri, si, _spans = groups[g]
        out.held.append((ri, si, k - firsts[g]))


def _spans_of_sessions(
    joined: bytes, ends: list[int], blobs: list[bytes], targets: set[str], known: int
) -> list[int] | None:
    """The spans whose session is in ``targets`` beyond the ``known`` ones (found by their
    checkpoint id), from the session attributes in ``joined`` (the spans' bytes), when every
    one is written key first with a short string value (as the SDK writes it); ``None``
    otherwise (value first, as the Collector writes it, long, not a string)."""
    parts = joined.split(_SESSION_PREFIX)
    tails = parts[1:]
    heads = set(map(_HEAD, tails))  # tag 2 (value), length, tag 1 (string), length
    for h in heads:
        if len(h) < 4 or h[0] != 0x12 or h[2] != 0x0A or h[1] != h[3] + 2 or h[3] > _SHORT:
            return None
    if len(heads) == 1:  # one length of ids: the values cut in C
        (h,) = heads
        values: Any = map(itemgetter(slice(4, 4 + h[3])), tails)
    else:
        values = [p[4 : 4 + p[3]] for p in tails]
    raw = {t.encode() for t in targets}
    hits = list(compress(count(), map(raw.__contains__, values)))
    if len(hits) == known:  # each one is the session of a span with a checkpoint id
        return []
    starts = list(accumulate(map(len, parts)))  # occurrence j is at starts[j] + j * len(key)
    out = []
    for j in hits:
        k = bisect_right(ends, starts[j] + j * len(_SESSION_PREFIX))
        if k < len(blobs) and _string_at(blobs[k], _SESSION_PREFIX) in targets:
            out.append(k)
    return out


_HEAD = itemgetter(slice(0, 4))


def _spans_with(
    joined: bytes, ends: list[int], blobs: list[bytes], sid: str, raw: bytes
) -> list[int]:
    """The spans whose session is ``sid``: those whose bytes hold ``raw`` (its bytes) read."""
    out = []
    i = joined.find(raw)
    while i >= 0:
        k = bisect_right(ends, i)
        if i + len(raw) <= ends[k] and _string_at(blobs[k], _SESSION_PREFIX) == sid:
            out.append(k)
            i = joined.find(raw, ends[k])
        else:
            i = joined.find(raw, i + 1)
    return out


#: Up to this many sessions to hold in a request, each id is searched in its bytes.
_SEARCHED_IDS = 3
_SHORT = 0x7D  # longest string value whose AnyValue and length fit one byte each


class Origin:
    """The resource and scope (with their schema URLs) of spans taken out of a request."""

    __slots__ = ("resource", "resource_schema", "scope", "scope_schema")

    def __init__(self, rs: Any, ss: Any) -> None:
        self.resource = rs.resource
        self.resource_schema = rs.schema_url
        self.scope = ss.scope
        self.scope_schema = ss.schema_url


#: Set on a decoded span to ``(Origin, bytes)``: where it came from and its serialized
#: form, which is exported as is while the span object is not replaced (enriched).
RECEIVED = "_otel_replay_received"


def extract(
    td: Any, positions: list[tuple[int, int, int]], stamp: bytes = b""
) -> tuple[bytes, list[Any]]:
    """Move the spans at ``positions`` out of ``td``; they are returned, with ``stamp``
    appended to each, as one serialized ``TracesData`` (with their resources and scopes),
    and ``(Origin, span bytes)`` of each in the order that ``TracesData`` holds them."""
    out = type(td)()
    groups: dict[tuple[int, int], list[int]] = {}
    for ri, si, pi in positions:
        groups.setdefault((ri, si), []).append(pi)
    resources: dict[int, Any] = {}
    received: list[Any] = []
    for (ri, si), idxs in sorted(groups.items()):  # in the order they are decoded
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
        kept = ss.spans
        mine = [kept[i] + stamp for i in idxs]
        oss.spans.extend(mine)
        for i in sorted(set(idxs), reverse=True):  # a few spans: deleted in place
            del kept[i]
        origin = Origin(ors, oss)
        received.extend((origin, b) for b in mine)
    return bytes(out.SerializeToString()), received


def traces_of(spans: list[tuple[Origin, bytes]]) -> bytes:
    """One serialized ``TracesData`` of received span bytes, grouped by their origin."""
    out = SpanBytesTracesData()
    by_origin: dict[int, Any] = {}
    for origin, blob in spans:
        oss = by_origin.get(id(origin))
        if oss is None:
            ors = out.resource_spans.add()
            ors.resource.CopyFrom(origin.resource)
            ors.schema_url = origin.resource_schema
            oss = by_origin[id(origin)] = ors.scope_spans.add()
            oss.scope.CopyFrom(origin.scope)
            oss.schema_url = origin.scope_schema
        oss.spans.append(blob)
    return bytes(out.SerializeToString())
