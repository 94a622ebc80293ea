/** The one place a Temporal connection is built: address, namespace, mTLS or API key. */
import { readFileSync } from 'node:fs';
import type { Tracer } from '@opentelemetry/api';
import { OpenTelemetryWorkflowClientInterceptor } from '@temporalio/interceptors-opentelemetry';
import { Client, Connection, type ConnectionOptions } from '@temporalio/client';
import { NativeConnection, type NativeConnectionOptions } from '@temporalio/worker';
import type { TemporalConfig } from '../config';

const RECONNECT_BACKOFF_MAX_MS = 5_000;

function tlsSettings(config: TemporalConfig): ConnectionOptions['tls'] {
  if (!config.tls) return undefined;
  const { caFile, certFile, keyFile, serverName } = config.tls;
  return {
    serverNameOverride: serverName,
    serverRootCACertificate: caFile ? readFileSync(caFile) : undefined,
    clientCertPair: certFile && keyFile ? { crt: readFileSync(certFile), key: readFileSync(keyFile) } : undefined,
  };
}

/** `tracer`: workflow starts carry the active span's context to the workflow (Temporal's OpenTelemetry interceptor). */
export async function connectClient(config: TemporalConfig, options: { connectTimeoutMs?: number; tracer?: Tracer } = {}): Promise<Client> {
  const connection = await Connection.connect({
    address: config.address,
    tls: tlsSettings(config),
    apiKey: config.apiKey,
    connectTimeout: options.connectTimeoutMs ?? 10_000,
    // grpc-js waits longer and longer between reconnects while the server is away (up to 120 s by
    // default), and calls fail at once meanwhile: after a 3-minute outage of Temporal the bridge
    // started no batch for up to 100 s after the server was back. At most 5 s instead.
    channelArgs: { 'grpc.max_reconnect_backoff_ms': RECONNECT_BACKOFF_MAX_MS },
  });
  const interceptors = options.tracer ? { workflow: [new OpenTelemetryWorkflowClientInterceptor({ tracer: options.tracer })] } : undefined;
  return new Client({ connection, namespace: config.namespace, interceptors });
}

export async function connectNative(config: TemporalConfig): Promise<NativeConnection> {
  const options: NativeConnectionOptions = {
    address: config.address,
    tls: tlsSettings(config) as NativeConnectionOptions['tls'],
    apiKey: config.apiKey,
  };
  return NativeConnection.connect(options);
}

/** True when the frontend answers a cheap request. */
export async function temporalAnswers(client: Client): Promise<boolean> {
  return client.workflowService.getSystemInfo({}).then(
    () => true,
    () => false,
  );
}

/** Resolves when the frontend answers; rejects within a few seconds when it does not. */
export async function probeTemporal(config: TemporalConfig): Promise<void> {
  const client = await connectClient(config, { connectTimeoutMs: 3_000 });
  try {
    await client.workflowService.getSystemInfo({});
  } finally {
    await client.connection.close();
  }
}
