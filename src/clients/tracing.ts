/**
 * OpenTelemetry tracing across the hop from Kafka to Temporal and back to Kafka, off unless the
 * standard OTEL_* variables name an OTLP endpoint (src/config.ts). When off nothing here is built:
 * no provider, no exporter, no Temporal interceptors, and the hooks below cost one check each.
 *
 * What one batch's trace holds (README "Tracing"):
 *   bridge   `batch` span, around the hand-off of the batch            (this module, withBatchSpan)
 *            └ StartWorkflow:processRanges                            (Temporal's client interceptor)
 *   worker     └ RunWorkflow:processRanges                            (Temporal's workflow interceptors,
 *                └ StartActivity:processRanges                         exported through a sink)
 *                  └ RunActivity:processRanges                        (Temporal's activity interceptor)
 *                     links: the input records' own `traceparent`s    (linkRecordTraces)
 *   engine          └ engine:processRanges, when the worker runs its batches in engines
 *                        (src/worker/engine.ts; continued from the activity's traceparent), where
 *                        the links and the outputs' traceparent go instead   (withRemoteParent)
 *   outputs  every login and dead letter carries `traceparent` = the RunActivity span (outputTraceparent)
 *
 * The bridge never reads a record, so it cannot link to the records' traces: the activity, which
 * reads them, does. One span per batch, not per record: a trace per record would cost more than
 * the record.
 */
import { context, propagation, ROOT_CONTEXT, SpanKind, SpanStatusCode, trace, type Link, type Span, type TextMapGetter, type Tracer } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { W3CTraceContextPropagator } from '@opentelemetry/core';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-proto';
import { Resource } from '@opentelemetry/resources';
import { BasicTracerProvider, BatchSpanProcessor, SimpleSpanProcessor, type SpanExporter, type SpanProcessor } from '@opentelemetry/sdk-trace-base';
import type { IHeaders } from 'kafkajs';
import type { Config } from '../config';
import { formatRanges, offsetCount, type BatchSpec } from '../domain/batch';

export interface Tracing {
  tracer: Tracer;
  /** Where spans go; the worker hands it to Temporal's workflow span sink too. */
  processor: SpanProcessor;
  resource: Resource;
  /** Flushes what is still buffered and stops exporting. */
  shutdown(): Promise<void>;
}

const W3C = new W3CTraceContextPropagator();

/**
 * The process's tracing, registered globally (Temporal's interceptors use the global propagator
 * and context), or undefined when the configuration leaves it off. `exporter` replaces the OTLP
 * exporter (tests: an in-memory one, spans exported at once).
 */
export function createTracing(config: Pick<Config, 'tracing'>, component: string, options: { exporter?: SpanExporter } = {}): Tracing | undefined {
  if (!config.tracing && !options.exporter) return undefined;
  const resource = new Resource({
    ...config.tracing?.resourceAttributes,
    'service.name': config.tracing?.serviceName ?? `login-pipeline-${component}`,
    'service.namespace': 'login-pipeline',
  });
  const processor = options.exporter
    ? new SimpleSpanProcessor(options.exporter)
    : new BatchSpanProcessor(new OTLPTraceExporter({ url: config.tracing!.url, headers: config.tracing!.headers }));
  const provider = new BasicTracerProvider({ resource, spanProcessors: [processor] });
  provider.register({ propagator: W3C, contextManager: new AsyncLocalStorageContextManager() });
  return {
    tracer: provider.getTracer('login-pipeline'),
    processor,
    resource,
    shutdown: async () => {
      await provider.shutdown();
      // The globals go too: a process (a test run) that traced once may run untraced afterwards.
      trace.disable();
      propagation.disable();
      context.disable();
    },
  };
}

/**
 * Runs the hand-off of a batch inside its `batch` span, so that the workflow start (Temporal's
 * client interceptor) and everything after it joins the span's trace. Without tracing: `fn()`.
 */
export async function withBatchSpan<T>(tracer: Tracer | undefined, spec: BatchSpec, fn: () => Promise<T>): Promise<T> {
  if (!tracer) return fn();
  return tracer.startActiveSpan(
    'batch',
    {
      kind: SpanKind.PRODUCER,
      attributes: {
        'messaging.system': 'kafka',
        'messaging.destination.name': spec.topic,
        'messaging.consumer.group.name': spec.groupId,
        'messaging.batch.message_count': offsetCount(spec.ranges),
        'login_pipeline.batch_id': spec.batchId,
        'login_pipeline.ranges': formatRanges(spec.ranges),
        'login_pipeline.lane': spec.lane.id,
      },
    },
    (span) => endingSpan(span, fn),
  );
}

/** `fn()`'s outcome, with the span ended after it and marked failed when it threw. */
async function endingSpan<T>(span: Span, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    span.recordException(err as Error);
    span.setStatus({ code: SpanStatusCode.ERROR, message: err instanceof Error ? err.message : String(err) });
    throw err;
  } finally {
    span.end();
  }
}

/**
 * The `traceparent` header for the outputs published in the current span (the batch activity's),
 * or undefined when no span is recording: then outputs carry no such header.
 */
export function outputTraceparent(): string | undefined {
  const span = trace.getActiveSpan();
  if (!span?.isRecording()) return undefined;
  const carrier: Record<string, string> = {};
  W3C.inject(context.active(), carrier, { set: (c, k, v) => (c[k] = v) });
  return carrier.traceparent;
}

/**
 * Runs `fn` in a span `name` continuing the trace of `traceparent` (a span of another process:
 * a worker engine continues its worker's activity). Without a tracer or a traceparent: `fn()`.
 */
export async function withRemoteParent<T>(tracer: Tracer | undefined, traceparent: string | undefined, name: string, fn: () => Promise<T>): Promise<T> {
  if (!tracer || !traceparent) return fn();
  const parent = W3C.extract(ROOT_CONTEXT, { traceparent }, headerGetter);
  return tracer.startActiveSpan(name, { kind: SpanKind.INTERNAL }, parent, (span) => endingSpan(span, fn));
}

/** At most this many links per activity span (OpenTelemetry's own default limit is 128). */
const MAX_LINKS = 128;

const headerGetter: TextMapGetter<IHeaders | undefined> = {
  keys: (headers) => Object.keys(headers ?? {}),
  get: (headers, key) => {
    const value = headers?.[key];
    const first = Array.isArray(value) ? value[0] : value;
    return first === undefined ? undefined : first.toString();
  },
};

/**
 * Links the current span (the batch activity's) to the traces the input records came with (their
 * W3C `traceparent` header), each distinct one once, up to MAX_LINKS per span. Nothing when no
 * span is recording or no record has the header.
 */
export function linkRecordTraces(records: readonly { headers?: IHeaders }[]): void {
  const span = trace.getActiveSpan();
  if (!span?.isRecording()) return;
  const state = linked.get(span) ?? { seen: new Set<string>() };
  linked.set(span, state);
  const links: Link[] = [];
  for (const record of records) {
    if (state.seen.size >= MAX_LINKS) break;
    if (!record.headers?.traceparent) continue;
    const linkedContext = trace.getSpanContext(W3C.extract(ROOT_CONTEXT, record.headers, headerGetter));
    if (!linkedContext || state.seen.has(`${linkedContext.traceId}-${linkedContext.spanId}`)) continue;
    state.seen.add(`${linkedContext.traceId}-${linkedContext.spanId}`);
    links.push({ context: linkedContext, attributes: { 'login_pipeline.link': 'input record' } });
  }
  if (links.length > 0) span.addLinks(links);
}

/** Links already added per span, across a batch's chunks. */
const linked = new WeakMap<object, { seen: Set<string> }>();
