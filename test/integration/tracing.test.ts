/**
 * Tracing across the hop, on the real stack, with an in-memory exporter shared by a bridge and a
 * worker run in this process (the product's own classes, the same interceptors as in production):
 * one record, produced under an upstream span, comes out with a `traceparent` whose trace is the
 * bridge's batch span's, which holds the workflow's and the activity's spans; the activity's span
 * links to the record's own trace.
 */
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { context, SpanKind, trace } from '@opentelemetry/api';
import { W3CTraceContextPropagator } from '@opentelemetry/core';
import { InMemorySpanExporter, type ReadableSpan } from '@opentelemetry/sdk-trace-base';
import type { Admin } from 'kafkajs';
import { Bridge } from '../../src/bridge/bridge';
import { connectClient } from '../../src/clients/temporal';
import { createTracing, type Tracing } from '../../src/clients/tracing';
import { createLogger } from '../../src/log';
import { startPipelineWorker, type RunningWorker } from '../../src/worker/worker';
import { testEnv } from '../helpers/env';
import { createTopics, produce, testKafka, TopicReader } from '../helpers/kafka';
import { terminateInsights } from '../helpers/pipeline';
import { ChildService } from '../helpers/processes';
import { quietTemporalRuntime } from '../helpers/runtime';
import { waitFor } from '../helpers/wait';

describe('tracing across Kafka, the bridge, Temporal and the worker', function () {
  this.timeout(120_000);
  const t = testEnv('tracing');
  const { config } = t;
  const kafka = testKafka(config);
  const logger = createLogger('tracing-test', { log: { level: 'silent', format: 'json' } });
  const exporter = new InMemorySpanExporter();
  let tracing: Tracing;
  let worker: RunningWorker | undefined;
  let bridge: Bridge | undefined;
  let admin: Admin | undefined;
  let client: Awaited<ReturnType<typeof connectClient>> | undefined;
  let reader: TopicReader | undefined;

  before(async () => {
    quietTemporalRuntime();
    await createTopics(kafka, [config.kafka.inputTopic, config.kafka.outputTopic, config.kafka.dlqTopic]);
    tracing = createTracing(config, 'test', { exporter })!;
    worker = await startPipelineWorker(config, logger, undefined, { engines: 0, tracing });
    admin = kafka.admin();
    await admin.connect();
    client = await connectClient(config.temporal, { tracer: tracing.tracer });
    bridge = new Bridge({ kafka, admin, client, config, logger, tracer: tracing.tracer });
    await bridge.start();
    reader = await new TopicReader(kafka, [config.kafka.outputTopic]).start();
  });

  after(async () => {
    await bridge?.stop().catch(() => undefined);
    await worker?.shutdown().catch(() => undefined);
    await reader?.close().catch(() => undefined);
    await admin?.disconnect().catch(() => undefined);
    await client?.connection.close().catch(() => undefined);
    await terminateInsights(config);
    await tracing?.shutdown();
  });

  it("joins one record's batch span, workflow, activity and output in one trace, linked to the record's own", async () => {
    // The record's producer, upstream of the pipeline, traces its send.
    const upstream = tracing.tracer.startSpan('upstream produce', { kind: SpanKind.PRODUCER });
    const headers: Record<string, string> = {};
    new W3CTraceContextPropagator().inject(trace.setSpan(context.active(), upstream), headers, { set: (c, k, v) => (c[k] = v) });
    upstream.end();
    const record = { user_id: 'traced-user', app_version: '2.3.0', timestamp: Math.floor(Date.now() / 1000), device_type: 'iOS' };
    await produce(kafka, config.kafka.inputTopic, [{ key: 'k', value: JSON.stringify(record), headers }]);

    const output = await waitFor(() => reader!.of(config.kafka.outputTopic).find((m) => m.headers.type === 'login'), {
      timeoutMs: 60_000,
      message: 'the processed login',
    });
    const traceparent = output.headers.traceparent;
    assert.match(traceparent ?? '', /^00-[0-9a-f]{32}-[0-9a-f]{16}-01$/, 'the output carries a sampled W3C traceparent');
    const [, traceId, parentSpanId] = traceparent!.split('-');

    const named = (spans: ReadableSpan[], name: string) => spans.find((s) => s.name === name && s.spanContext().traceId === traceId);
    const spans = await waitFor(
      () => {
        const all = exporter.getFinishedSpans();
        return ['batch', 'StartWorkflow:processRanges', 'RunWorkflow:processRanges', 'StartActivity:processRanges', 'RunActivity:processRanges'].every((n) => named(all, n))
          ? all
          : undefined;
      },
      { timeoutMs: 30_000, message: () => `the batch's spans in trace ${traceId}; exported: ${exporter.getFinishedSpans().map((s) => s.name).join(', ')}` },
    );
    const batch = named(spans, 'batch')!;
    const start = named(spans, 'StartWorkflow:processRanges')!;
    const run = named(spans, 'RunWorkflow:processRanges')!;
    const schedule = named(spans, 'StartActivity:processRanges')!;
    const activity = named(spans, 'RunActivity:processRanges')!;
    assert.equal(batch.parentSpanId, undefined, "the bridge's batch span is the trace's root");
    assert.equal(batch.attributes['messaging.destination.name'], config.kafka.inputTopic);
    assert.equal(start.parentSpanId, batch.spanContext().spanId, 'the workflow start is inside the batch span');
    assert.equal(run.parentSpanId, start.spanContext().spanId, 'the workflow run continues the start');
    assert.equal(schedule.parentSpanId, run.spanContext().spanId);
    assert.equal(activity.parentSpanId, schedule.spanContext().spanId, 'the activity continues the workflow');
    assert.equal(parentSpanId, activity.spanContext().spanId, "the output's traceparent is the activity's span");
    assert.ok(
      activity.links.some((l) => l.context.traceId === upstream.spanContext().traceId && l.context.spanId === upstream.spanContext().spanId),
      "the activity's span links to the record's own trace",
    );
  });
});

describe('tracing with the worker running its batches in engines', function () {
  this.timeout(120_000);
  const exporter = new InMemorySpanExporter();
  const received: Buffer[] = [];
  // An OTLP/HTTP endpoint for the worker's processes: it keeps what they export.
  const collector = createServer((req, res) => {
    const body: Buffer[] = [];
    req.on('data', (c: Buffer) => body.push(c));
    req.on('end', () => {
      received.push(Buffer.concat(body));
      res.writeHead(200, { 'content-type': 'application/x-protobuf' }).end();
    });
  });
  let t: ReturnType<typeof testEnv>;
  let tracing: Tracing;
  let worker: ChildService | undefined;
  let bridge: Bridge | undefined;
  let admin: Admin | undefined;
  let client: Awaited<ReturnType<typeof connectClient>> | undefined;
  let reader: TopicReader | undefined;

  before(async () => {
    await new Promise<void>((resolve) => collector.listen(0, '127.0.0.1', resolve));
    const { port } = collector.address() as AddressInfo;
    t = testEnv('tracing-engines', { WORKER_PROCESSES: '2', OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${port}` });
    const kafka = testKafka(t.config);
    await createTopics(kafka, [t.config.kafka.inputTopic, t.config.kafka.outputTopic, t.config.kafka.dlqTopic]);
    worker = new ChildService('worker', t.env, `${t.id}-worker`);
    await worker.start();
    tracing = createTracing(t.config, 'test', { exporter })!;
    admin = kafka.admin();
    await admin.connect();
    client = await connectClient(t.config.temporal, { tracer: tracing.tracer });
    const logger = createLogger('tracing-test', { log: { level: 'silent', format: 'json' } });
    bridge = new Bridge({ kafka, admin, client, config: t.config, logger, tracer: tracing.tracer });
    await bridge.start();
    reader = await new TopicReader(kafka, [t.config.kafka.outputTopic]).start();
  });

  after(async () => {
    await bridge?.stop().catch(() => undefined);
    await worker?.stop().catch(() => undefined);
    await reader?.close().catch(() => undefined);
    await admin?.disconnect().catch(() => undefined);
    await client?.connection.close().catch(() => undefined);
    await terminateInsights(t.config);
    await tracing?.shutdown();
    collector.close();
  });

  it("continues the activity's trace in the engine, whose span the output names", async () => {
    const record = { user_id: 'traced-user', app_version: '2.3.0', timestamp: Math.floor(Date.now() / 1000) };
    await produce(testKafka(t.config), t.config.kafka.inputTopic, [{ key: 'k', value: JSON.stringify(record) }]);
    const output = await waitFor(() => reader!.of(t.config.kafka.outputTopic).find((m) => m.headers.type === 'login'), { timeoutMs: 60_000, message: 'the processed login' });
    const [, traceId, parentSpanId] = (output.headers.traceparent ?? '').split('-');
    const batch = await waitFor(() => exporter.getFinishedSpans().find((s) => s.name === 'batch'), { timeoutMs: 30_000, message: "the bridge's batch span" });
    assert.equal(traceId, batch.spanContext().traceId, "the output's trace is the batch's");
    // OTLP protobuf keeps ids as raw bytes and names as UTF-8: the engine's span, with the output's parent id, in that trace.
    const exported = () => Buffer.concat(received);
    await waitFor(() => exported().includes('engine:processRanges') && exported().includes(Buffer.from(parentSpanId!, 'hex')), {
      timeoutMs: 30_000,
      message: `the engine's span ${parentSpanId} exported by the worker`,
    });
    assert.ok(exported().includes(Buffer.from(traceId!, 'hex')));
    // The activity's span ends after the engine's, in another process with its own export batch.
    await waitFor(() => exported().includes('RunActivity:processRanges'), { timeoutMs: 30_000, message: "the worker process's export of the activity's span" });
  });
});
