/** The worker's activities on the worker's own clients, for tests that run them in a Worker of their own. */
import type { Config } from '../../src/config';
import { createLogger } from '../../src/log';
import { createWorkerActivities, createWorkerClients, type WorkerClients } from '../../src/worker/clients';

export function workerActivities(config: Config): { activities: ReturnType<typeof createWorkerActivities>; clients: WorkerClients } {
  const clients = createWorkerClients(config, createLogger('test-worker', { log: { level: 'silent', format: 'json' } }));
  return { activities: createWorkerActivities(clients, config), clients };
}
