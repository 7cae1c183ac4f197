"""Redaction of secrets before spans are buffered, recorded or exported.

:class:`RedactionProcessor` must be the **first** processor added to the ``TracerProvider``::

    provider = TracerProvider()
    provider.add_span_processor(RedactionProcessor())          # first
    provider.add_span_processor(ReplayProcessor())
    provider.add_span_processor(BatchSpanProcessor(RecordingExporter("recordings/")))

How it works with the OpenTelemetry Python SDK (checked against 1.45):

* ``on_start`` redacts the attributes the span was started with (the span is still mutable),
  before later processors' ``on_start`` run.
* ``Span.end()`` calls ``_on_ending(span)`` on **every** processor (in order, or all at once
  with ``ConcurrentMultiSpanProcessor``) before it builds the ``ReadableSpan`` and calls any
  ``on_end``. ``_on_ending`` rewrites, in place, the values of the span's attribute mapping,
  of its events (e.g. ``exception.message`` and ``exception.stacktrace``) and links, its
  status description and its name. The ``ReadableSpan`` handed to ``on_end`` shares those
  objects, so every later processor and exporter only ever sees redacted values.
* ``on_end`` repeats the pass on spans that did not go through ``_on_ending`` (an SDK
  without it, or a ``ReadableSpan`` built elsewhere). All processors of a
  ``SynchronousMultiSpanProcessor`` receive the same ``ReadableSpan`` object in order, so the
  rewrite happens before later processors run.

What is redacted:

* text rules (regular expressions, :data:`DEFAULT_RULES`; the table in docs/redaction.md) in
  every string value (and every string in a sequence value): API keys (``sk-...``,
  ``AKIA...``, ``ghp_...``, ``AIza...``, ``xox?-...``, Stripe ``sk_live_``/``rk_live_``,
  Hugging Face ``hf_``, GitLab ``glpat-``, npm ``npm_``), ``api_key=...``-style pairs (also
  inside JSON), bearer and basic credentials, passwords in URLs (``scheme://user:pass@host``),
  JWTs and PEM private keys;
* key rules: the whole string value of an attribute whose key names a secret (a ``.``/``_``/
  ``-`` separated part such as ``password``, ``secret``, ``token``, ``api_key``,
  ``authorization``, ``cookie``; :data:`DEFAULT_SECRET_KEYS`). Numbers and booleans are kept
  (``llm.token_count.prompt`` stays a count);
* a user ``hook(key, value) -> value`` applied last to every attribute value;
* the span's **resource** attributes (``deployment.api_key=...``), with the same rules: each
  distinct resource is redacted once (its redactions counted once) and the redacted copy
  replaces it on every span.

Checkpoint state (``agent_replay.checkpoint.state``, a JSON object) is redacted as JSON
(:meth:`Redactor.redact_state`): text rules run on every object key and string value, key
rules on every string value under a secret-named object key (at any depth), then the hook on
the whole state text; changed state is re-encoded as canonical JSON, so it stays valid JSON.

Every redacted value is counted in the ``agent_replay.redactions`` counter (attribute
``agent_replay.redaction.rule``). A hook that raises fails closed: the value is replaced and
the error is logged once and counted in ``agent_replay.processor.errors``.

When the inline checkpoint state is redacted, its digest and size attributes are recomputed
so the redacted state still restores. State bound for a
:class:`~otel_replay.model.stores.CheckpointStore` never passes through a span processor:
``checkpoint()`` finds the ``RedactionProcessor`` among the tracer provider's processors and
calls :meth:`RedactionProcessor.redact_checkpoint_state` before the envelope is written, so it
is redacted identically, counted in ``agent_replay.redactions``, and its digest is that of the
redacted state. If that fails (a hook raises or returns something that is not a JSON object)
the error is logged once and counted in ``agent_replay.processor.errors``, and
``checkpoint()`` raises :class:`~otel_replay.model.errors.CheckpointRedactionError` without
storing or exporting anything. (Inline state whose hook fails is replaced by ``[REDACTED]``,
so restoring it fails loudly.)
"""

from __future__ import annotations

import json
import os
import re
import threading
import weakref
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, Final

from opentelemetry.context import Context
from opentelemetry.metrics import MeterProvider
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, Span, SpanProcessor
from opentelemetry.trace import Status

from otel_replay.capture.redaction_rules import (
    DEFAULT_RULES,
    DEFAULT_SECRET_KEYS,
    REDACTED,
    RedactionRule,
)
from otel_replay.core import conventions as c
from otel_replay.core.sdkspan import (
    events_and_links,
    own_attributes,
    replace_attributes,
    set_event_attributes,
    set_link_attributes,
    set_name,
    set_resource,
    set_status,
    update_attributes,
)
from otel_replay.core.selfmetrics import ErrorReporter, get_meter
from otel_replay.model.state import _reject_constant, canonical_json, state_digest

__all__ = [
    "RedactionRule",
    "RedactionHook",
    "Redactor",
    "RedactionProcessor",
    "DEFAULT_RULES",
    "DEFAULT_SECRET_KEYS",
    "REDACTED",
    "METRIC_REDACTIONS",
    "ATTR_RULE",
]

#: Counter of redacted values ``{redaction}``, attribute :data:`ATTR_RULE`.
METRIC_REDACTIONS: Final = "agent_replay.redactions"
#: Metric attribute: the name of the rule that matched (``key`` for key rules, ``hook``).
ATTR_RULE: Final = "agent_replay.redaction.rule"

#: ``hook(attribute key, value) -> value``: return the value unchanged or a redacted one.
RedactionHook = Callable[[str, Any], Any]


_STATE = c.CHECKPOINT_STATE
_MAX_KEY_CACHE = 4096
_MAX_STATE_DEPTH = 200


def _json_object(text: str) -> dict[str, Any]:
    """``text`` decoded as a JSON object; ``ValueError`` otherwise."""
    try:
        value = json.loads(text, parse_constant=_reject_constant)
    except ValueError as exc:
        raise ValueError(f"state is not JSON: {exc}") from None
    except RecursionError as exc:
        raise ValueError("state nests too deeply") from exc
    if not isinstance(value, dict):
        raise ValueError(f"state is a JSON {type(value).__name__}, not an object")
    return value


class Redactor:
    """Applies text rules, key rules and a hook to attribute values (thread-safe).

    ``rules`` replaces the built-in text rules, ``extra_rules`` adds to them (as
    :class:`RedactionRule` or ``(name, pattern)`` pairs). ``secret_keys`` is a regular
    expression searched in attribute keys (``None`` disables key rules).
    """

    def __init__(
        self,
        rules: Iterable[RedactionRule] = DEFAULT_RULES,
        *,
        extra_rules: Iterable[RedactionRule | tuple[str, str | re.Pattern[str]]] = (),
        secret_keys: str | re.Pattern[str] | None = DEFAULT_SECRET_KEYS,
        hook: RedactionHook | None = None,
        replacement: str = REDACTED,
    ) -> None:
        extra = [
            r if isinstance(r, RedactionRule) else RedactionRule.of(r[0], r[1]) for r in extra_rules
        ]
        self.rules: tuple[RedactionRule, ...] = tuple(rules) + tuple(extra)
        self.replacement = replacement
        self.hook = hook
        self.secret_keys: re.Pattern[str] | None = (
            re.compile(secret_keys) if isinstance(secret_keys, str) else secret_keys
        )
        self._anchored = any(r.anchors is not None for r in self.rules)
        self._key_cache: dict[str, bool] = {}

    # ---------------------------------------------------------------- values

    def is_secret_key(self, key: str) -> bool:
        """Whether ``key`` names a secret under the key rules."""
        hit = self._key_cache.get(key)
        if hit is None:
            hit = self.secret_keys is not None and self.secret_keys.search(key) is not None
            if len(self._key_cache) >= _MAX_KEY_CACHE:
                self._key_cache.clear()
            self._key_cache[key] = hit
        return hit

    def redact_text(self, text: str, hits: list[str] | None = None) -> str:
        """``text`` with every text-rule match replaced; appends rule names to ``hits``."""
        return self._redact_text(text, hits, self.rules)

    def _redact_text(
        self, text: str, hits: list[str] | None, rules: tuple[RedactionRule, ...]
    ) -> str:
        if not text or not rules:
            return text
        low = text.lower() if self._anchored else text
        for rule in rules:
            anchors = rule.anchors
            if anchors is not None:
                for a in anchors:
                    if a in low:
                        break
                else:
                    continue
            new, n = rule.pattern.subn(rule.replacement, text)
            if n and new != text:
                text = new
                if hits is not None:
                    hits.extend([rule.name] * n)
        return text

    def redact_value(self, key: str, value: Any, hits: list[str] | None = None) -> Any:
        """The redacted form of one attribute value (the same object when nothing matched).

        A string value of ``agent_replay.checkpoint.state`` that is a JSON object is redacted
        with :meth:`redact_state`.
        """
        if key == _STATE and isinstance(value, str):
            try:
                doc = _json_object(value)
            except ValueError:
                pass  # not JSON state: redacted as text
            else:
                return self._redact_state(value, doc, hits)
        out = self._redact_value(key, value, hits)
        if self.hook is not None:
            hooked = self.hook(key, out)
            if hooked is not out and hooked != out and hits is not None:
                hits.append("hook")
            out = hooked
        return out

    def _redact_value(self, key: str, value: Any, hits: list[str] | None) -> Any:
        if isinstance(value, str):
            if value and self.is_secret_key(key):
                if value != self.replacement and hits is not None:
                    hits.append("key")
                return self.replacement
            return self.redact_text(value, hits)
        if isinstance(value, (bytes, bytearray)):
            if value and self.is_secret_key(key):
                if hits is not None:
                    hits.append("key")
                return self.replacement.encode()
            text = bytes(value).decode("latin-1")
            new = self.redact_text(text, hits)
            return value if new is text else new.encode("latin-1", "replace")
        if isinstance(value, (tuple, list)):
            items = [self._redact_value(key, v, hits) for v in value]
            if all(a is b for a, b in zip(items, value, strict=True)):
                return value
            return tuple(items)
        return value

    def redact_state(self, state: str, hits: list[str] | None = None) -> str:
        """``state`` (a JSON object's text) redacted; the same object when nothing matched.

        Text rules run on every object key and string value, key rules on every string value
        under a secret-named key (at any depth), then the hook as
        ``hook("agent_replay.checkpoint.state", text)``. Changed state is canonical JSON.
        Raises ``ValueError`` when ``state`` or the hook's result is not a JSON object.
        """
        return self._redact_state(state, _json_object(state), hits)

    def _redact_state(self, state: str, doc: dict[str, Any], hits: list[str] | None) -> str:
        out = state
        low = state.lower() if self._anchored else state
        # only the rules whose anchors occur somewhere in the state run on its strings
        active = tuple(
            r for r in self.rules if r.anchors is None or any(a in low for a in r.anchors)
        )
        if active or self.secret_keys is not None:
            new = self._redact_json(doc, False, hits, active, 0)
            if new is not doc:
                out = canonical_json(new)
        if self.hook is not None:
            hooked = self.hook(c.CHECKPOINT_STATE, out)
            if hooked is not out and hooked != out:
                if not isinstance(hooked, str):
                    raise ValueError(
                        f"hook returned {type(hooked).__name__} for checkpoint state, not str"
                    )
                try:
                    _json_object(hooked)
                except ValueError as exc:
                    raise ValueError(f"the hook's checkpoint state is invalid: {exc}") from None
                if hits is not None:
                    hits.append("hook")
                out = hooked
        return out

    def _redact_json(
        self,
        value: Any,
        secret: bool,
        hits: list[str] | None,
        rules: tuple[RedactionRule, ...],
        depth: int,
    ) -> Any:
        """``value`` with secrets redacted (the same object when nothing matched)."""
        if isinstance(value, str):
            if secret and value:
                if value != self.replacement and hits is not None:
                    hits.append("key")
                return self.replacement
            return self._redact_text(value, hits, rules)
        if depth > _MAX_STATE_DEPTH:
            raise ValueError(f"state nests deeper than {_MAX_STATE_DEPTH} levels")
        if isinstance(value, dict):
            out: dict[str, Any] = {}
            changed = False
            for k, v in value.items():
                nk = self._redact_text(k, hits, rules)
                nv = self._redact_json(v, secret or self.is_secret_key(k), hits, rules, depth + 1)
                if nk is not k:
                    changed = True
                    base, n = nk, 1
                    while nk in out or nk in value:  # two redacted keys: keep both entries
                        n += 1
                        nk = f"{base}#{n}"
                elif nv is not v:
                    changed = True
                out[nk] = nv
            return out if changed else value
        if isinstance(value, list):
            items = [self._redact_json(v, secret, hits, rules, depth + 1) for v in value]
            if all(a is b for a, b in zip(items, value, strict=True)):
                return value
            return items
        return value

    def redact_mapping(
        self,
        attributes: Mapping[str, Any] | None,
        hits: list[str],
        on_error: Callable[[Exception], None] | None = None,
    ) -> dict[str, Any]:
        """The changed values of ``attributes`` (key -> redacted value).

        A value whose redaction raises (a failing hook) is replaced (fail closed) and the
        exception passed to ``on_error``.
        """
        changes: dict[str, Any] = {}
        if not attributes:
            return changes
        hook = self.hook
        for key, value in list(attributes.items()):
            if hook is None and not isinstance(value, (str, bytes, bytearray, tuple, list)):
                continue
            try:
                new = self.redact_value(key, value, hits)
            except Exception as exc:
                new = self.replacement
                hits.append("hook_error")
                if on_error is not None:
                    on_error(exc)
            if new is not value:
                changes[key] = new
        if c.CHECKPOINT_STATE in changes and isinstance(changes[c.CHECKPOINT_STATE], str):
            data = changes[c.CHECKPOINT_STATE].encode("utf-8", "surrogatepass")
            changes[c.CHECKPOINT_STATE_DIGEST] = state_digest(data)
            changes[c.CHECKPOINT_STATE_SIZE] = len(data)
        return changes


class RedactionProcessor(SpanProcessor):
    """Redacts secrets in spans before any later processor sees them (add it first).

    See the module documentation for the rules and how the rewrite reaches every processor.
    """

    def __init__(
        self,
        rules: Iterable[RedactionRule] = DEFAULT_RULES,
        *,
        extra_rules: Iterable[RedactionRule | tuple[str, str | re.Pattern[str]]] = (),
        secret_keys: str | re.Pattern[str] | None = DEFAULT_SECRET_KEYS,
        hook: RedactionHook | None = None,
        redact_names: bool = True,
        meter_provider: MeterProvider | None = None,
    ) -> None:
        self.redactor = Redactor(rules, extra_rules=extra_rules, secret_keys=secret_keys, hook=hook)
        self.redact_names = redact_names
        meter = get_meter(meter_provider)
        self.errors = ErrorReporter("redaction", meter)
        self._counter = meter.create_counter(
            METRIC_REDACTIONS, unit="{redaction}", description="Secrets redacted from spans"
        )
        #: Total number of redacted values.
        self.count = 0
        self._resources: dict[int, tuple[Resource, Resource]] = {}
        self._count_lock = threading.Lock()
        self._local = threading.local()
        if hasattr(os, "register_at_fork"):
            ref = weakref.ref(self)

            def _after_fork_in_child() -> None:
                proc = ref()
                if proc is not None:  # the lock may have been held by another thread
                    proc._count_lock = threading.Lock()

            os.register_at_fork(after_in_child=_after_fork_in_child)

    # ---------------------------------------------------------------- SpanProcessor contract

    def on_start(self, span: Span, parent_context: Context | None = None) -> None:
        hits: list[str] = []
        try:
            changes = self._changes(span.attributes, hits)
            if changes:
                span.set_attributes(changes)
            if self.redact_names:
                name = self.redactor.redact_text(span.name, hits)
                if name is not span.name:
                    span.update_name(name)
        except Exception as exc:
            self.errors.report("on_start", exc)
        self._count(hits)

    def _on_ending(self, span: Span) -> None:
        self._redact_in_place(span, "on_ending")
        self._local.done = own_attributes(span)  # shared with the ReadableSpan

    def on_end(self, span: ReadableSpan) -> None:
        if getattr(self._local, "done", None) is not None:
            done, self._local.done = self._local.done, None
            if done is own_attributes(span):
                return  # already redacted in _on_ending
        self._redact_in_place(span, "on_end")

    def shutdown(self) -> None:
        return None

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return True

    # ---------------------------------------------------------------- checkpoint stores

    def redact_checkpoint_state(self, data: bytes) -> bytes:
        """Canonical JSON state ``data`` redacted as inline state is (``data`` if unchanged).

        ``checkpoint()`` calls this for state bound for a checkpoint store. Redactions are
        counted; a failure is logged once, counted in ``agent_replay.processor.errors`` and
        raised.
        """
        hits: list[str] = []
        try:
            text = data.decode("utf-8")
            out = self.redactor.redact_state(text, hits)
            redacted = data if out is text else out.encode("utf-8")
        except Exception as exc:
            self.errors.report("checkpoint_state", exc)
            raise
        self._count(hits)
        return redacted

    # ---------------------------------------------------------------- internals

    def _changes(self, attributes: Mapping[str, Any] | None, hits: list[str]) -> dict[str, Any]:
        return self.redactor.redact_mapping(attributes, hits, self._hook_failed)

    def _redacted_resource(self, resource: Resource, hits: list[str]) -> Resource:
        """``resource`` with its secrets redacted (cached per distinct resource)."""
        cache = self._resources
        hit = cache.get(id(resource))
        if hit is not None and hit[0] is resource:
            return hit[1]
        changes = self._changes(resource.attributes, hits)
        out = resource
        if changes:
            merged = dict(resource.attributes)
            merged.update(changes)
            out = Resource(merged, resource.schema_url)
        if len(cache) >= 64:
            cache.clear()
        cache[id(resource)] = (resource, out)
        return out

    def _hook_failed(self, exc: Exception) -> None:
        self.errors.report("hook", exc)

    def _redact_in_place(self, span: ReadableSpan, where: str) -> None:
        hits: list[str] = []
        try:
            attrs = own_attributes(span)
            changes = self._changes(attrs, hits)
            if changes:
                replace_attributes(span, update_attributes(attrs, changes))
            events, links = events_and_links(span)
            for event in events:
                ev_changes = self._changes(event.attributes, hits)
                if ev_changes:
                    set_event_attributes(event, update_attributes(event.attributes, ev_changes))
            for link in links:
                ln_changes = self._changes(link.attributes, hits)
                if ln_changes:
                    set_link_attributes(link, update_attributes(link.attributes, ln_changes))
            resource = span.resource
            if resource is not None and resource.attributes:
                redacted = self._redacted_resource(resource, hits)
                if redacted is not resource:
                    set_resource(span, redacted)
            status = span.status
            if status is not None and status.description:
                desc = self.redactor.redact_text(status.description, hits)
                if desc is not status.description:
                    set_status(span, Status(status.status_code, desc))
            if self.redact_names and span.name:
                name = self.redactor.redact_text(span.name, hits)
                if name is not span.name:
                    set_name(span, name)
        except Exception as exc:
            self.errors.report(where, exc)
        self._count(hits)

    def _count(self, hits: Sequence[str]) -> None:
        if not hits:
            return
        try:
            with self._count_lock:
                self.count += len(hits)
            by_rule: dict[str, int] = {}
            for name in hits:
                by_rule[name] = by_rule.get(name, 0) + 1
            for name, n in by_rule.items():
                self._counter.add(n, {ATTR_RULE: name})
        except Exception as exc:  # pragma: no cover - metrics must never break spans
            self.errors.report("count", exc)
