/**
 * `npm run dashboard`: a live page on DASHBOARD_HOST:DASHBOARD_PORT (loopback:3000 by default)
 * with logins per minute per app version over the last hour, the current summary window,
 * dead letters by reason, the replays of dead letters and their state, the circuit breaker's
 * state, the consumer lag on INPUT_TOPIC and links into the Temporal Web UI. Redis, Kafka,
 * Temporal or the bridge being down shows on the page; it does not stop the dashboard.
 */
import type { Client } from '@temporalio/client';
import { runMain } from '../process/main';
import { createKafka } from '../clients/kafka';
import { Dependencies } from '../clients/availability';
import { kafkaDependency, redisDependency } from '../clients/dependencies';
import { createRedis } from '../clients/redis';
import { connectClient } from '../clients/temporal';
import { loadConfig } from '../config';
import { createInsightsStore } from '../insights/store';
import { createLogger } from '../log';
import { onShutdownSignals } from '../process/signals';
import { OverviewSource } from './overview';
import { startDashboardServer } from './server';
import { installRequestQueueFix } from '../clients/kafkajs-request-queue';

installRequestQueueFix();
runMain(async () => {
  const config = loadConfig();
  const logger = createLogger('dashboard', config);
  const redis = createRedis(config.redis);
  // ioredis reconnects on its own and the page shows an outage; the log says once what is missing.
  redis.on('error', () => undefined);
  const dependencies = new Dependencies([kafkaDependency(config), redisDependency(config)], logger);
  const stop = new AbortController();
  void dependencies.waitForAll(stop.signal).catch(() => undefined);
  // Quick to give up: a poll should report Kafka as unreachable within seconds, not hang.
  const admin = createKafka(config.kafka, { clientId: `${config.kafka.clientId}-dashboard`, fast: true }).admin();
  const store = createInsightsStore(redis, config);
  // Connected on first use and again after a failure: Temporal may come up after the dashboard.
  let temporal: Promise<Client> | undefined;
  const temporalClient = () => {
    const connecting = (temporal ??= connectClient(config.temporal, { connectTimeoutMs: 3_000 }));
    connecting.catch(() => {
      if (temporal === connecting) temporal = undefined;
    });
    return connecting;
  };
  const source = new OverviewSource({ config, store, redis, admin, temporal: temporalClient, logger });
  let server;
  try {
    server = await startDashboardServer({
      host: config.http.dashboardHost,
      port: config.http.dashboardPort,
      overview: () => source.read(),
      readiness: () => ({ ...dependencies.readiness(), redis: redis.status === 'ready' }),
      logger,
    });
  } catch (err) {
    redis.disconnect();
    throw err;
  }
  const listening = server;
  onShutdownSignals(logger, async () => {
    stop.abort();
    await listening.close();
    await source.close();
    await temporal?.then((client) => client.connection.close()).catch(() => undefined);
    await redis.quit().catch(() => redis.disconnect());
    logger.info('Dashboard stopped');
  });
  logger.info(
    { host: listening.host, port: listening.port, inputTopic: config.kafka.inputTopic, groupId: config.kafka.groupId },
    `Dashboard at ${listening.url}`,
  );
});
