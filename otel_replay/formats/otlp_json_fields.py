"""OTLP/JSON field readers: the shapes each field may take (proto field names, enum names,
base64 ids, pre-0.15 names included) and the :class:`~otel_replay.formats.errors._Invalid`
messages for the rest."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable, Mapping
from typing import Any

from otel_replay.formats.errors import _Invalid

_CAMEL: dict[str, str] = {}


def _camel(key: str) -> str:
    out = _CAMEL.get(key)
    if out is None:
        head, *rest = key.split("_")
        out = head + "".join(p[:1].upper() + p[1:] for p in rest)
        if len(_CAMEL) < 4096:
            _CAMEL[key] = out
    return out


def _camelize(obj: Any) -> Any:
    """Rename proto field names (``trace_id``) to their JSON names (``traceId``)."""
    if type(obj) is dict:
        return {(_camel(k) if "_" in k else k): _camelize(v) for k, v in obj.items()}
    if type(obj) is list:
        return [_camelize(v) for v in obj]
    return obj


def _span_dict(s: Any) -> dict[str, Any]:
    if type(s) is not dict:
        raise _Invalid(f"span is {_json_kind(s)}, expected an object")
    if "trace_id" in s or "span_id" in s:  # proto field names are valid proto3 JSON too
        return _camelize(s)  # type: ignore[no-any-return]
    return s


def _obj(v: Any, what: str) -> dict[str, Any]:
    if type(v) is not dict:
        raise _Invalid(f"{what} is {_json_kind(v)}, expected an object")
    return v


def _list(v: Any, what: str) -> list[Any]:
    if v is None:
        return []
    if type(v) is not list:
        raise _Invalid(f'"{what}" is {_json_kind(v)}, expected an array')
    return v


def _json_type(v: Any) -> str:
    if isinstance(v, dict):
        return "object"
    if isinstance(v, list):
        return "array"
    if isinstance(v, str):
        return "string"
    if isinstance(v, bool):
        return "boolean"
    if v is None:
        return "null"
    return "number"


def _json_kind(v: Any) -> str:
    t = _json_type(v)
    return t if t == "null" else ("an " if t[0] in "ao" else "a ") + t


def _json_str(v: Any, what: str) -> str:
    if type(v) is str:
        return v  # type: ignore[no-any-return]
    if v is None:
        return ""
    raise _Invalid(f"{what} is {_json_kind(v)}, expected a string")


def _json_int(v: Any, what: str) -> int:
    t = type(v)
    if t is str:
        try:
            return int(v)
        except ValueError:
            pass
    elif t is int:
        return v  # type: ignore[no-any-return]
    elif v is None:
        return 0
    elif t is float and v.is_integer():
        return int(v)
    raise _Invalid(f"{what}: invalid integer {v!r:.40}")


def _json_enum(v: Any, names: Mapping[str, int], what: str) -> int:
    if type(v) is str and v in names:
        return names[v]
    return _json_int(v, what)


def _json_id(v: Any, nbytes: int, what: str) -> int:
    if type(v) is str:
        n = len(v)
        if n == 2 * nbytes:
            if v.isalnum():  # int() would also accept a sign, "_" and spaces
                try:
                    return int(v, 16)
                except ValueError:
                    pass
        elif n == 0:
            return 0
        else:  # tolerate base64 ids (the generic proto3 JSON mapping of bytes)
            try:
                raw = base64.b64decode(
                    v + "=" * (-n % 4),
                    altchars=b"-_" if "-" in v or "_" in v else None,
                    validate=True,
                )
            except (binascii.Error, ValueError):
                raw = b""
            if len(raw) == nbytes:
                return int.from_bytes(raw, "big")
    elif v is None:
        return 0
    raise _Invalid(f"{what}: invalid id {v!r:.60} (expected {2 * nbytes} hex digits)")


def _json_double(v: Any) -> float:
    t = type(v)
    if t is float:
        return v  # type: ignore[no-any-return]
    if t is int:
        return float(v)
    if t is str:
        try:
            return float(v)  # accepts "NaN", "Infinity", "-Infinity"
        except ValueError:
            pass
    raise _Invalid(f"doubleValue: invalid number {v!r:.40}")


def _json_bytes(v: Any) -> bytes:
    if type(v) is str:
        try:
            if "-" in v or "_" in v:
                return base64.urlsafe_b64decode(v + "=" * (-len(v) % 4))
            return base64.b64decode(v + "=" * (-len(v) % 4), validate=True)
        except (binascii.Error, ValueError):
            pass
    raise _Invalid(f"bytesValue: invalid base64 {v!r:.40}")


def _json_bool(v: Any) -> bool:
    if type(v) is not bool:
        raise _Invalid(f"boolValue is {_json_kind(v)}, expected true or false")
    return v  # type: ignore[no-any-return]


def _json_array(v: Any) -> tuple[Any, ...]:
    v = _obj(v, "arrayValue")
    return tuple([_json_any(x) for x in _list(v.get("values"), "values")])


def _json_kvlist(v: Any) -> dict[str, Any]:
    v = _obj(v, "kvlistValue")
    return _json_attrs(v.get("values"))


_VALUE_DECODERS: dict[str, Callable[[Any], Any]] = {
    "stringValue": lambda v: _json_str(v, "stringValue"),
    "intValue": lambda v: _json_int(v, "intValue"),
    "boolValue": _json_bool,
    "doubleValue": _json_double,
    "arrayValue": _json_array,
    "kvlistValue": _json_kvlist,
    "bytesValue": _json_bytes,
}
for _key in list(_VALUE_DECODERS):
    _VALUE_DECODERS[_key.replace("V", "_v")] = _VALUE_DECODERS[_key]  # proto field names


def _json_any(v: Any) -> Any:
    if type(v) is not dict:
        raise _Invalid(f"attribute value is {_json_kind(v)}, expected an object")
    for key, x in v.items():
        # fast paths for well-formed scalars; anything else goes through _VALUE_DECODERS
        t = type(x)
        if t is str:
            if key == "stringValue":
                return x
            if key == "intValue":
                try:
                    return int(x)
                except ValueError:
                    pass
        elif key == "boolValue" and t is bool or key == "doubleValue" and t is float:
            return x
        dec = _VALUE_DECODERS.get(key)
        if dec is not None:
            return None if x is None else dec(x)
    return None  # an empty AnyValue


def _json_attrs(kvs: Any) -> dict[str, Any]:
    if type(kvs) is not list:
        if kvs is None:
            return {}
        raise _Invalid(f'"attributes" is {_json_kind(kvs)}, expected an array')
    out: dict[str, Any] = {}
    for kv in kvs:
        # Fast path for well-formed KeyValues with a scalar value (a subscript that succeeds
        # proves a dict); everything else, errors included, goes through the general code.
        try:
            key = kv["key"]
            value = kv["value"]
            if "stringValue" in value:
                x = value["stringValue"]
                if type(x) is str and type(key) is str:
                    out[key] = x
                    continue
            elif len(value) == 1 and type(key) is str:
                if "intValue" in value:
                    x = value["intValue"]
                    if type(x) is str:
                        out[key] = int(x)
                        continue
                elif "doubleValue" in value:
                    x = value["doubleValue"]
                    if type(x) is float:
                        out[key] = x
                        continue
                elif "boolValue" in value:
                    x = value["boolValue"]
                    if type(x) is bool:
                        out[key] = x
                        continue
                elif "arrayValue" in value:
                    x = value["arrayValue"]["values"]
                    if type(x) is list:
                        out[key] = tuple([_json_any(v) for v in x])
                        continue
        except (KeyError, TypeError, IndexError, ValueError):  # _Invalid too
            pass
        if type(kv) is dict:
            key = kv.get("key")
            value = kv.get("value")
            if type(key) is str and type(value) is dict:
                x = value.get("stringValue")
                if type(x) is str:
                    out[key] = x
                    continue
                try:
                    out[key] = _json_any(value)
                except _Invalid as exc:
                    raise exc.at(f"attributes[{key!r}]") from None
                continue
            if type(key) is str and value is None:
                out[key] = None
                continue
            if type(key) is not str:
                raise _Invalid(f"attribute key is {_json_kind(key)}, expected a string")
            raise _Invalid(f"attribute {key!r}: value is {_json_kind(value)}, expected an object")
        raise _Invalid(f"attribute is {_json_kind(kv)}, expected an object")
    return out


def _resource_spans_of(obj: Any) -> list[Any]:
    if type(obj) is not dict:
        raise _Invalid(f"not an OTLP TracesData object (a JSON {_json_type(obj)})")
    rss = obj.get("resourceSpans")
    if rss is None:
        rss = obj.get("resource_spans")
        if rss is None:
            raise _Invalid('not an OTLP TracesData object (no "resourceSpans")')
        rss = _camelize(rss)
    if type(rss) is not list:
        raise _Invalid(f'"resourceSpans" is {_json_kind(rss)}, expected an array')
    return rss  # type: ignore[no-any-return]


def _scope_spans_of(rs: dict[str, Any]) -> list[Any]:
    sss = rs.get("scopeSpans")
    if sss is None:
        sss = rs.get("scope_spans")
        if sss is None:  # OTLP < 0.15 (Collector < 0.46) wrote instrumentationLibrarySpans
            sss = rs.get("instrumentationLibrarySpans")
        sss = _camelize(sss)
    return _list(sss, "scopeSpans")


def _scope_of(ss: dict[str, Any]) -> dict[str, Any] | None:
    scope = ss.get("scope")
    if scope is None:
        scope = ss.get("instrumentationLibrary")
        if scope is None:
            return None
    return _obj(scope, "scope")
