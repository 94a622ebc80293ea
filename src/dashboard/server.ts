/** The dashboard's HTTP server: GET / (the page), GET /api/overview (JSON), GET /healthz, GET /readyz. */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Logger } from '../log';
import type { Overview } from './overview';
import { PAGE_CSP, PAGE_HTML } from './page';

export interface DashboardServerOptions {
  host: string;
  port: number;
  overview: () => Promise<Overview>;
  /** Each dependency by name: true when it answers. Ready = all true. */
  readiness: () => Record<string, boolean>;
  logger: Logger;
}

export interface DashboardServer {
  host: string;
  port: number;
  /** Where to point a browser (an unspecified bind address shown as loopback). */
  url: string;
  close(): Promise<void>;
}

const COMMON_HEADERS = {
  'cache-control': 'no-store',
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
};

export async function startDashboardServer(options: DashboardServerOptions): Promise<DashboardServer> {
  const { logger } = options;
  const server = createServer((req, res) => {
    handle(req, res, options).catch((err: unknown) => {
      logger.error({ err, url: req.url }, 'Dashboard request failed');
      if (!res.headersSent) send(res, req, 500, 'application/json; charset=utf-8', JSON.stringify({ error: 'internal error' }));
      else res.destroy();
    });
  });
  server.keepAliveTimeout = 5_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  server.on('error', (err) => logger.error({ err }, 'Dashboard server error'));
  const address = server.address() as AddressInfo;
  return {
    host: address.address,
    port: address.port,
    url: `http://${displayHost(address.address)}:${address.port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        // Pages keep polling on kept-alive connections: close those that are idle now, and any
        // still busy after a short grace.
        server.closeIdleConnections();
        setTimeout(() => server.closeAllConnections(), 2_000).unref();
      }),
  };
}

async function handle(req: IncomingMessage, res: ServerResponse, options: DashboardServerOptions): Promise<void> {
  const path = new URL(req.url ?? '/', 'http://localhost').pathname;
  if (req.method !== 'GET' && req.method !== 'HEAD') {
    res.setHeader('allow', 'GET, HEAD');
    return send(res, req, 405, 'text/plain; charset=utf-8', 'method not allowed\n');
  }
  if (path === '/' || path === '/index.html') {
    res.setHeader('content-security-policy', PAGE_CSP);
    res.setHeader('x-frame-options', 'DENY');
    return send(res, req, 200, 'text/html; charset=utf-8', PAGE_HTML);
  }
  if (path === '/healthz') return send(res, req, 200, 'application/json; charset=utf-8', '{"status":"ok"}');
  if (path === '/readyz') {
    const checks = options.readiness();
    const ready = Object.values(checks).every(Boolean);
    return send(res, req, ready ? 200 : 503, 'application/json; charset=utf-8', JSON.stringify({ status: ready ? 'ready' : 'not ready', checks }));
  }
  if (path === '/api/overview') {
    const overview = await options.overview();
    return send(res, req, 200, 'application/json; charset=utf-8', JSON.stringify(overview));
  }
  return send(res, req, 404, 'text/plain; charset=utf-8', 'not found: try /, /api/overview, /healthz or /readyz\n');
}

function send(res: ServerResponse, req: IncomingMessage, status: number, contentType: string, body: string): void {
  const bytes = Buffer.from(body, 'utf8');
  res.writeHead(status, { ...COMMON_HEADERS, 'content-type': contentType, 'content-length': bytes.length });
  res.end(req.method === 'HEAD' ? undefined : bytes);
}

function displayHost(address: string): string {
  if (address === '0.0.0.0' || address === '::') return '127.0.0.1';
  return address.includes(':') ? `[${address}]` : address;
}
