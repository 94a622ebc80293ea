/** /metrics, /healthz and /readyz for the bridge and the worker (Kubernetes probes, Prometheus). */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Registry } from 'prom-client';

export interface Readiness {
  /** Each dependency by name: true when connected. Ready = all true. */
  (): Promise<Record<string, boolean>>;
}

export interface OpsServerOptions {
  port: number;
  host?: string;
  registry: Registry;
  readiness: Readiness;
  /** More exposition text appended to /metrics (e.g. the Temporal SDK's own metrics). */
  extraMetrics?: () => Promise<string>;
  /** More endpoints, by "METHOD /path" (e.g. "POST /breaker/resume"), each answering JSON. */
  routes?: Record<string, () => Promise<{ status: number; body: unknown }>>;
}

export async function startOpsServer(options: OpsServerOptions): Promise<{ server: Server; port: number; close(): Promise<void> }> {
  const server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    const reply = (status: number, contentType: string, body: string) => {
      res.writeHead(status, { 'content-type': contentType, 'cache-control': 'no-store' });
      res.end(body);
    };
    (async () => {
      if (path === '/healthz') return reply(200, 'application/json', '{"status":"ok"}');
      if (path === '/readyz') {
        const checks = await options.readiness();
        const ready = Object.values(checks).every(Boolean);
        return reply(ready ? 200 : 503, 'application/json', JSON.stringify({ status: ready ? 'ready' : 'not ready', checks }));
      }
      if (path === '/metrics') {
        const own = await options.registry.metrics();
        const extra = options.extraMetrics ? await options.extraMetrics().catch(() => '') : '';
        return reply(200, options.registry.contentType, extra ? `${own}\n${extra}` : own);
      }
      const route = options.routes?.[`${req.method} ${path}`];
      if (route) {
        const { status, body } = await route();
        return reply(status, 'application/json', `${JSON.stringify(body)}\n`);
      }
      return reply(404, 'text/plain', `not found: try /metrics, /healthz or /readyz${Object.keys(options.routes ?? {}).map((r) => `, ${r}`).join('')}\n`);
    })().catch((err: unknown) => reply(500, 'text/plain', `${err instanceof Error ? err.message : String(err)}\n`));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host ?? '0.0.0.0', () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  return {
    server,
    port,
    close: () =>
      new Promise((resolve) => {
        server.close(() => resolve());
        // Probes and scrapers keep connections alive: they must not hold up a stop.
        server.closeAllConnections();
      }),
  };
}

/** A port nobody listens on now (for a helper server that must be given a fixed address). */
export async function freePort(): Promise<number> {
  const probe = createServer();
  await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', () => resolve()));
  const port = (probe.address() as AddressInfo).port;
  await new Promise((resolve) => probe.close(resolve));
  return port;
}
