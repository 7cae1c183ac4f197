// An agent in Node.js that marks otel-replay checkpoints and steps following
// docs/semantic-conventions.md ("Checkpoints from other languages"), with the official
// OpenTelemetry JS SDK (@opentelemetry/sdk-node) exporting OTLP/HTTP protobuf to the endpoint
// in OTEL_EXPORTER_OTLP_TRACES_ENDPOINT. No model, no network beyond that endpoint.
//
//   node agent.js --session ID [--status shipped|lost]
//
// Prints one JSON line: {"session", "checkpoint", "trace_id"}.
'use strict';

const crypto = require('node:crypto');
const { NodeSDK } = require('@opentelemetry/sdk-node');
const { OTLPTraceExporter } = require('@opentelemetry/exporter-trace-otlp-proto');
const { SimpleSpanProcessor } = require('@opentelemetry/sdk-trace-base');
const { resourceFromAttributes } = require('@opentelemetry/resources');
const { trace, context } = require('@opentelemetry/api');

function arg(name, fallback) {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : fallback;
}

// Canonical JSON (sorted keys, compact): the same text, so the same digest, in every language.
function canonical(value) {
  if (Array.isArray(value)) return `[${value.map(canonical).join(',')}]`;
  if (value && typeof value === 'object') {
    const keys = Object.keys(value).sort();
    return `{${keys.map((k) => `${JSON.stringify(k)}:${canonical(value[k])}`).join(',')}}`;
  }
  return JSON.stringify(value);
}

/** Per-session step numbering: agent_replay.step.sequence, assigned at span start. */
class Session {
  constructor(id) {
    this.id = id;
    this.step = 0;
    this.checkpoints = 0;
    this.lastCheckpoint = undefined;
  }

  start(tracer, name, attributes) {
    this.step += 1;
    return tracer.startSpan(name, {
      attributes: {
        'agent_replay.session.id': this.id,
        'agent_replay.step.sequence': this.step,
        ...attributes,
      },
    });
  }
}

function inSpan(span, fn) {
  return context.with(trace.setSpan(context.active(), span), fn);
}

function checkpoint(tracer, session, state, label) {
  const text = canonical({ data: state }); // the "custom" state shape
  const id = crypto.randomBytes(16).toString('hex');
  session.checkpoints += 1;
  const attributes = {
    'agent_replay.step.kind': 'checkpoint',
    'agent_replay.checkpoint.id': id,
    'agent_replay.checkpoint.sequence': session.checkpoints,
    'agent_replay.checkpoint.framework': 'custom',
    'agent_replay.checkpoint.label': label,
    'agent_replay.checkpoint.created_time_unix_nano': Date.now() * 1e6,
    'agent_replay.checkpoint.state': text,
    'agent_replay.checkpoint.state.digest':
      'sha256:' + crypto.createHash('sha256').update(text, 'utf8').digest('hex'),
    'agent_replay.checkpoint.state.size': Buffer.byteLength(text, 'utf8'),
    'agent_replay.checkpoint.state.location': 'inline',
  };
  if (session.lastCheckpoint) attributes['agent_replay.checkpoint.parent_id'] = session.lastCheckpoint;
  session.start(tracer, `checkpoint ${label}`, attributes).end();
  session.lastCheckpoint = id;
  return id;
}

function toolCall(tracer, session, tool, args, result) {
  const span = session.start(tracer, `execute_tool ${tool}`, {
    'gen_ai.operation.name': 'execute_tool',
    'gen_ai.tool.name': tool,
    'gen_ai.tool.call.arguments': JSON.stringify(args),
  });
  span.setAttribute('gen_ai.tool.call.result', JSON.stringify(result));
  span.end();
}

function chat(tracer, session, model, prompt, answer) {
  const span = session.start(tracer, `chat ${model}`, {
    'gen_ai.operation.name': 'chat',
    'gen_ai.provider.name': 'fake',
    'gen_ai.request.model': model,
    'gen_ai.input.messages': JSON.stringify([{ role: 'user', parts: [{ type: 'text', content: prompt }] }]),
  });
  span.setAttribute('gen_ai.response.model', model);
  span.setAttribute(
    'gen_ai.output.messages',
    JSON.stringify([{ role: 'assistant', parts: [{ type: 'text', content: answer }] }]),
  );
  span.end();
}

async function main() {
  const sessionId = arg('session', 'node-session');
  const status = arg('status', 'shipped');
  const sdk = new NodeSDK({
    resource: resourceFromAttributes({ 'service.name': 'node-agent' }),
    spanProcessors: [new SimpleSpanProcessor(new OTLPTraceExporter())],
  });
  sdk.start();
  const tracer = trace.getTracer('otel-replay-node-agent');
  const session = new Session(sessionId);
  const root = session.start(tracer, 'invoke_agent support-agent', {
    'gen_ai.operation.name': 'invoke_agent',
    'gen_ai.agent.name': 'support-agent',
    'gen_ai.conversation.id': sessionId,
  });
  const ckpt = inSpan(root, () => {
    const id = checkpoint(tracer, session, { intent: 'refund', order: 'A-17' }, 'planned');
    toolCall(tracer, session, 'lookup_order', { order: 'A-17' }, { status });
    chat(tracer, session, 'fake-model', 'Where is order A-17?', 'I have looked up order A-17.');
    return id;
  });
  root.end();
  const traceId = root.spanContext().traceId;
  await sdk.shutdown(); // flushes the exporter
  process.stdout.write(JSON.stringify({ session: sessionId, checkpoint: ckpt, trace_id: traceId }) + '\n');
}

main().catch((err) => {
  process.stderr.write(`node agent failed: ${err && err.stack ? err.stack : err}\n`);
  process.exit(1);
});
