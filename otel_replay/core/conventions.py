"""Attribute, event and metric names used by otel-replay.

OTel GenAI semantic conventions (``gen_ai.*``) are used wherever they fit. Everything that
has no convention lives in the project namespace :data:`NAMESPACE` (``agent_replay.``).
See ``docs/semantic-conventions.md`` for the table.
"""

from __future__ import annotations

from typing import Final

NAMESPACE: Final = "agent_replay"

# --- OTel GenAI semantic conventions (read and written) -------------------------------------
GEN_AI_OPERATION_NAME: Final = "gen_ai.operation.name"
GEN_AI_PROVIDER_NAME: Final = "gen_ai.provider.name"
GEN_AI_SYSTEM: Final = "gen_ai.system"  # deprecated alias of gen_ai.provider.name; read only
GEN_AI_AGENT_NAME: Final = "gen_ai.agent.name"
GEN_AI_AGENT_ID: Final = "gen_ai.agent.id"
GEN_AI_CONVERSATION_ID: Final = "gen_ai.conversation.id"
GEN_AI_REQUEST_MODEL: Final = "gen_ai.request.model"
GEN_AI_RESPONSE_MODEL: Final = "gen_ai.response.model"
GEN_AI_USAGE_INPUT_TOKENS: Final = "gen_ai.usage.input_tokens"
GEN_AI_USAGE_OUTPUT_TOKENS: Final = "gen_ai.usage.output_tokens"
GEN_AI_TOOL_NAME: Final = "gen_ai.tool.name"
GEN_AI_TOOL_CALL_ID: Final = "gen_ai.tool.call.id"
GEN_AI_TOOL_CALL_ARGUMENTS: Final = "gen_ai.tool.call.arguments"
GEN_AI_TOOL_CALL_RESULT: Final = "gen_ai.tool.call.result"
GEN_AI_TOOL_TYPE: Final = "gen_ai.tool.type"
GEN_AI_INPUT_MESSAGES: Final = "gen_ai.input.messages"
GEN_AI_OUTPUT_MESSAGES: Final = "gen_ai.output.messages"
GEN_AI_RESPONSE_FINISH_REASONS: Final = "gen_ai.response.finish_reasons"

# Values of gen_ai.operation.name
OP_INVOKE_AGENT: Final = "invoke_agent"
OP_CREATE_AGENT: Final = "create_agent"
OP_CHAT: Final = "chat"
OP_TEXT_COMPLETION: Final = "text_completion"
OP_GENERATE_CONTENT: Final = "generate_content"
OP_EMBEDDINGS: Final = "embeddings"
OP_EXECUTE_TOOL: Final = "execute_tool"

LLM_OPERATIONS: Final = frozenset({OP_CHAT, OP_TEXT_COMPLETION, OP_GENERATE_CONTENT, OP_EMBEDDINGS})
AGENT_OPERATIONS: Final = frozenset({OP_INVOKE_AGENT, OP_CREATE_AGENT})

# --- Project namespace ----------------------------------------------------------------------
# Session and steps
SESSION_ID: Final = "agent_replay.session.id"
STEP_KIND: Final = "agent_replay.step.kind"
STEP_SEQUENCE: Final = "agent_replay.step.sequence"
STEP_IMPORTANCE: Final = "agent_replay.step.importance"
STEP_INPUT: Final = "agent_replay.step.input"
STEP_OUTPUT: Final = "agent_replay.step.output"
# span id (hex) of the call running on the same thread when a span without a parent started
STEP_ENCLOSING_SPAN_ID: Final = "agent_replay.step.enclosing_span_id"

# Checkpoints
CHECKPOINT_ID: Final = "agent_replay.checkpoint.id"
CHECKPOINT_SEQUENCE: Final = "agent_replay.checkpoint.sequence"
CHECKPOINT_FRAMEWORK: Final = "agent_replay.checkpoint.framework"
CHECKPOINT_LABEL: Final = "agent_replay.checkpoint.label"
CHECKPOINT_PARENT_ID: Final = "agent_replay.checkpoint.parent_id"
CHECKPOINT_STATE: Final = "agent_replay.checkpoint.state"  # inline canonical JSON
CHECKPOINT_STATE_DIGEST: Final = "agent_replay.checkpoint.state.digest"  # "sha256:<hex>"
CHECKPOINT_STATE_SIZE: Final = "agent_replay.checkpoint.state.size"  # bytes of the JSON
CHECKPOINT_STATE_LOCATION: Final = "agent_replay.checkpoint.state.location"  # inline | store
CHECKPOINT_CREATED_TIME: Final = "agent_replay.checkpoint.created_time_unix_nano"
# LangGraph checkpoints recorded by ReplayCheckpointer: where LangGraph keeps them
CHECKPOINT_LANGGRAPH_THREAD_ID: Final = "agent_replay.checkpoint.langgraph.thread_id"
CHECKPOINT_LANGGRAPH_CHECKPOINT_NS: Final = "agent_replay.checkpoint.langgraph.checkpoint_ns"
CHECKPOINT_LANGGRAPH_CHECKPOINT_ID: Final = "agent_replay.checkpoint.langgraph.checkpoint_id"
CHECKPOINT_LANGGRAPH_NEXT: Final = "agent_replay.checkpoint.langgraph.next"  # string[]
CHECKPOINT_LANGGRAPH_STEP: Final = "agent_replay.checkpoint.langgraph.step"

# Decisions
DECISION_NAME: Final = "agent_replay.decision.name"
DECISION_ACTION: Final = "agent_replay.decision.action"
DECISION_CONFIDENCE: Final = "agent_replay.decision.confidence"
DECISION_ALTERNATIVES: Final = "agent_replay.decision.alternatives"
DECISION_REASONING: Final = "agent_replay.decision.reasoning"

# Replay provenance
REPLAY_RUN_ID: Final = "agent_replay.replay.run_id"
REPLAY_CHECKPOINT_ID: Final = "agent_replay.replay.checkpoint_id"  # restored-from checkpoint
REPLAY_SOURCE_SESSION_ID: Final = "agent_replay.replay.source.session_id"
REPLAY_SOURCE_TRACE_ID: Final = "agent_replay.replay.source.trace_id"
REPLAY_MODE: Final = "agent_replay.replay.mode"  # events | replay | hybrid | live
REPLAY_REPLAYED: Final = "agent_replay.replay.replayed"  # step span re-emitted from a recording
REPLAY_SERVED_FROM_RECORDING: Final = "agent_replay.replay.served_from_recording"
REPLAY_STEP_KEY: Final = "agent_replay.replay.step_key"
REPLAY_ORIGINAL_SEQUENCE: Final = "agent_replay.replay.original_sequence"
REPLAY_ORIGINAL_SPAN_ID: Final = "agent_replay.replay.original_span_id"
# a framework span that encloses a resumed run (e.g. the resumed graph's root): not a step
REPLAY_RESUME_ROOT: Final = "agent_replay.replay.resume_root"

# Drift (span events)
DRIFT_EVENT: Final = "agent_replay.drift"
DRIFT_SUMMARY_EVENT: Final = "agent_replay.drift.summary"
DRIFT_KIND: Final = "agent_replay.drift.kind"
DRIFT_SEVERITY: Final = "agent_replay.drift.severity"
DRIFT_DESCRIPTION: Final = "agent_replay.drift.description"
DRIFT_EXPECTED: Final = "agent_replay.drift.expected"
DRIFT_ACTUAL: Final = "agent_replay.drift.actual"
DRIFT_PATHS: Final = "agent_replay.drift.paths"
DRIFT_POSITION: Final = "agent_replay.drift.position"
DRIFT_BASELINE_SPAN_ID: Final = "agent_replay.drift.baseline.span_id"
DRIFT_BASELINE_SEQUENCE: Final = "agent_replay.drift.baseline.sequence"
DRIFT_CANDIDATE_SPAN_ID: Final = "agent_replay.drift.candidate.span_id"
DRIFT_CANDIDATE_SEQUENCE: Final = "agent_replay.drift.candidate.sequence"
#: On the event of a related change: the span id of the step whose finding caused it.
DRIFT_CAUSED_BY: Final = "agent_replay.drift.caused_by"
# Summary event attributes
DRIFT_FINDINGS_TOTAL: Final = "agent_replay.drift.findings"
DRIFT_CRITICAL_TOTAL: Final = "agent_replay.drift.critical"
DRIFT_WARNING_TOTAL: Final = "agent_replay.drift.warning"
DRIFT_INFO_TOTAL: Final = "agent_replay.drift.info"
DRIFT_FIRST_DIVERGENCE: Final = "agent_replay.drift.first_divergence"
DRIFT_HAS_DRIFT: Final = "agent_replay.drift.detected"

# Step kinds
KIND_AGENT: Final = "agent"
KIND_LLM: Final = "llm"
KIND_TOOL: Final = "tool"
KIND_DECISION: Final = "decision"
KIND_CHECKPOINT: Final = "checkpoint"
KIND_REPLAY: Final = "replay"
KIND_OTHER: Final = "other"
#: Framework plumbing (chains, prompts, routers, graph nodes that only wrap a step): kept in
#: recordings, grouped under the step they belong to by drift (docs/semantic-conventions.md).
KIND_PLUMBING: Final = "plumbing"
STEP_KINDS: Final = (
    KIND_AGENT,
    KIND_LLM,
    KIND_TOOL,
    KIND_DECISION,
    KIND_CHECKPOINT,
    KIND_OTHER,
    KIND_PLUMBING,
)

# --- Metrics (OTel names; Prometheus names in docs/semantic-conventions.md) -----------------
METER_NAME: Final = "otel_replay"
METRIC_DRIFT_FINDINGS: Final = "agent_replay.drift.findings"  # counter {finding}
METRIC_RUNS_COMPARED: Final = "agent_replay.drift.runs"  # counter {run}
METRIC_RUNS_CRITICAL: Final = "agent_replay.drift.critical_runs"  # counter {run}
METRIC_REPLAY_STEPS: Final = "agent_replay.replay.steps"  # counter {step}, attr outcome
METRIC_BUFFER_STEPS: Final = "agent_replay.buffer.steps"  # updown {step}
METRIC_BUFFER_BYTES: Final = "agent_replay.buffer.size"  # updown By
METRIC_BUFFER_SESSIONS: Final = "agent_replay.buffer.sessions"  # updown {session}
METRIC_BUFFER_EVICTIONS: Final = "agent_replay.buffer.evictions"  # counter {step}, attr reason
METRIC_PROCESSOR_ERRORS: Final = "agent_replay.processor.errors"  # counter {error}, attr component
# otel-replay serve
METRIC_SERVE_RECEIVED: Final = "agent_replay.serve.spans.received"  # counter {span}
METRIC_SERVE_EXPORTED: Final = "agent_replay.serve.spans.exported"  # counter {span}
METRIC_SERVE_DROPPED: Final = "agent_replay.serve.spans.dropped"  # counter {span}, attr reason
METRIC_SERVE_REFUSED: Final = "agent_replay.serve.spans.refused"  # counter {span}, attr reason
METRIC_SERVE_HELD: Final = "agent_replay.serve.runs.held"  # async updown {run}
METRIC_SERVE_TIMED_OUT: Final = "agent_replay.serve.runs.timed_out"  # counter {run}
METRIC_SERVE_NOT_COMPARED: Final = "agent_replay.serve.runs.not_compared"  # counter, attr reason
METRIC_SERVE_REJECTED: Final = "agent_replay.serve.requests.rejected"  # counter, attr reason

# Metric attribute keys
ATTR_KIND: Final = "agent_replay.drift.kind"
ATTR_SEVERITY: Final = "agent_replay.drift.severity"
ATTR_OUTCOME: Final = "agent_replay.replay.outcome"
ATTR_REASON: Final = "agent_replay.eviction.reason"
ATTR_COMPONENT: Final = "agent_replay.component"
ATTR_ERROR_TYPE: Final = "error.type"
ATTR_SERVE_REASON: Final = "agent_replay.serve.reason"
#: Span attribute: the ``otel-replay serve`` worker that forwarded the span.
SERVE_WORKER: Final = "agent_replay.serve.worker"
SERVE_SERVICE_NAME: Final = "otel-replay-serve"

# --- Environment variables and defaults -----------------------------------------------------
ENV_INLINE_STATE_MAX_BYTES: Final = "OTEL_REPLAY_INLINE_STATE_MAX_BYTES"
DEFAULT_INLINE_STATE_MAX_BYTES: Final = 16 * 1024
ENV_STATE_MAX_BYTES: Final = "OTEL_REPLAY_STATE_MAX_BYTES"
DEFAULT_STATE_MAX_BYTES: Final = 16 * 1024 * 1024
ENV_BUFFER_MAX_STEPS: Final = "OTEL_REPLAY_BUFFER_MAX_STEPS"
DEFAULT_BUFFER_MAX_STEPS: Final = 10_000
ENV_BUFFER_MAX_BYTES: Final = "OTEL_REPLAY_BUFFER_MAX_BYTES"
DEFAULT_BUFFER_MAX_BYTES: Final = 16 * 1024 * 1024
ENV_BUFFER_MAX_SESSIONS: Final = "OTEL_REPLAY_BUFFER_MAX_SESSIONS"
DEFAULT_BUFFER_MAX_SESSIONS: Final = 1_000
ENV_RECORDING_MAX_LINE_BYTES: Final = "OTEL_REPLAY_RECORDING_MAX_LINE_BYTES"
DEFAULT_RECORDING_MAX_LINE_BYTES: Final = 64 * 1024 * 1024
ENV_HTTP_TIMEOUT: Final = "OTEL_REPLAY_HTTP_TIMEOUT"
DEFAULT_HTTP_TIMEOUT_SECONDS: Final = 10.0
ENV_RECORDING_DIR: Final = "OTEL_REPLAY_RECORDING_DIR"
ENV_RECORDING_FORMAT: Final = "OTEL_REPLAY_RECORDING_FORMAT"
DEFAULT_RECORDING_FORMAT: Final = "jsonl"
ENV_RECORDING_MAX_BYTES: Final = "OTEL_REPLAY_RECORDING_MAX_BYTES"  # unset: no limit
ENV_CHECKPOINT_DIR: Final = "OTEL_REPLAY_CHECKPOINT_DIR"
ENV_REDACT: Final = "OTEL_REPLAY_REDACT"
DEFAULT_REDACT: Final = True
ENV_DRIFT_SPAN_EVENTS: Final = "OTEL_REPLAY_DRIFT_SPAN_EVENTS"
DEFAULT_DRIFT_SPAN_EVENTS: Final = True
ENV_DRIFT_LOG_EVENTS: Final = "OTEL_REPLAY_DRIFT_LOG_EVENTS"
DEFAULT_DRIFT_LOG_EVENTS: Final = "auto"  # auto: whenever a LoggerProvider is configured
ENV_DRIFT_EVALUATION_EVENTS: Final = "OTEL_REPLAY_DRIFT_EVALUATION_EVENTS"
DEFAULT_DRIFT_EVALUATION_EVENTS: Final = True
ENV_DRIFT_IGNORE_PATHS: Final = "OTEL_REPLAY_DRIFT_IGNORE_PATHS"  # comma-separated JSON paths
ENV_DRIFT_MAX_HELD_SPANS: Final = "OTEL_REPLAY_DRIFT_MAX_HELD_SPANS"
DEFAULT_DRIFT_MAX_HELD_SPANS: Final = 10_000
ENV_DRIFT_MAX_REPORTS: Final = "OTEL_REPLAY_DRIFT_MAX_REPORTS"
DEFAULT_DRIFT_MAX_REPORTS: Final = 1_000
ENV_SERVE_HOST: Final = "OTEL_REPLAY_SERVE_HOST"
DEFAULT_SERVE_HOST: Final = "127.0.0.1"
ENV_SERVE_GRPC_PORT: Final = "OTEL_REPLAY_SERVE_GRPC_PORT"
DEFAULT_SERVE_GRPC_PORT: Final = 4317
ENV_SERVE_HTTP_PORT: Final = "OTEL_REPLAY_SERVE_HTTP_PORT"
DEFAULT_SERVE_HTTP_PORT: Final = 4318
ENV_SERVE_DOWNSTREAM: Final = "OTEL_REPLAY_SERVE_DOWNSTREAM"
ENV_SERVE_BASELINES: Final = "OTEL_REPLAY_SERVE_BASELINES"
ENV_SERVE_BASELINE_SOURCE: Final = "OTEL_REPLAY_SERVE_BASELINE_SOURCE"
ENV_SERVE_RECORD_DIR: Final = "OTEL_REPLAY_SERVE_RECORD_DIR"
ENV_SERVE_WORKER_ID: Final = "OTEL_REPLAY_SERVE_WORKER_ID"
ENV_SERVE_MAX_HELD_RUNS: Final = "OTEL_REPLAY_SERVE_MAX_HELD_RUNS"
DEFAULT_SERVE_MAX_HELD_RUNS: Final = 1_000
ENV_SERVE_MAX_HELD_BYTES: Final = "OTEL_REPLAY_SERVE_MAX_HELD_BYTES"
DEFAULT_SERVE_MAX_HELD_BYTES: Final = 256 * 1024 * 1024
ENV_SERVE_RUN_TIMEOUT: Final = "OTEL_REPLAY_SERVE_RUN_TIMEOUT"
DEFAULT_SERVE_RUN_TIMEOUT_SECONDS: Final = 300.0
ENV_SERVE_METRIC_INTERVAL: Final = "OTEL_REPLAY_SERVE_METRIC_INTERVAL"
DEFAULT_SERVE_METRIC_INTERVAL_SECONDS: Final = 10.0
ENV_SERVE_MAX_REQUEST_BYTES: Final = "OTEL_REPLAY_SERVE_MAX_REQUEST_BYTES"
DEFAULT_SERVE_MAX_REQUEST_BYTES: Final = 16 * 1024 * 1024
ENV_SERVE_MAX_QUEUED_SPANS: Final = "OTEL_REPLAY_SERVE_MAX_QUEUED_SPANS"
DEFAULT_SERVE_MAX_QUEUED_SPANS: Final = 65_536
# The OpenTelemetry SDK's own switch (read, never set, by otel-replay)
ENV_SDK_DISABLED: Final = "OTEL_SDK_DISABLED"

# --- OTel GenAI evaluation event (gen_ai.evaluation.result) ---------------------------------
GEN_AI_EVALUATION_RESULT_EVENT: Final = "gen_ai.evaluation.result"
GEN_AI_EVALUATION_NAME: Final = "gen_ai.evaluation.name"
GEN_AI_EVALUATION_SCORE_LABEL: Final = "gen_ai.evaluation.score.label"
GEN_AI_EVALUATION_SCORE_VALUE: Final = "gen_ai.evaluation.score.value"
GEN_AI_EVALUATION_EXPLANATION: Final = "gen_ai.evaluation.explanation"
GEN_AI_RESPONSE_ID: Final = "gen_ai.response.id"
EVALUATION_NAME: Final = "agent_replay.drift"  # our value of gen_ai.evaluation.name
EVALUATION_LABEL_NO_DRIFT: Final = "no_drift"
EVALUATION_LABEL_DRIFT: Final = "drift"
EVALUATION_LABEL_NOT_COMPARED: Final = "not_compared"
