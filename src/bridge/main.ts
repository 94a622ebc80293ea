/** `npm run bridge`: the Kafka → Temporal bridge, with /metrics, /healthz and /readyz on BRIDGE_HTTP_PORT. */
import { runMain } from '../process/main';
import { createKafka } from '../clients/kafka';
import { connectClient, temporalAnswers } from '../clients/temporal';
import { ensureTopics } from '../clients/topics';
import { loadConfig } from '../config';
import { startOpsServer } from '../http';
import { createLogger } from '../log';
import { createBridgeMetrics, createRegistry } from '../metrics';
import { onShutdownSignals } from '../process/signals';
import { Bridge } from './bridge';

runMain(async () => {
  const config = loadConfig();
  const logger = createLogger('bridge', config);
  const registry = createRegistry('bridge');
  const kafka = createKafka(config.kafka, { logger });
  // The worker creates the output topics; two processes creating one topic at once make kafkajs log an error.
  await ensureTopics(kafka, [config.kafka.inputTopic]);
  const client = await connectClient(config.temporal);
  const bridge = new Bridge({ kafka, client, config, logger, metrics: createBridgeMetrics(registry) });
  const ops = await startOpsServer({
    port: config.http.bridgePort,
    registry,
    readiness: async () => ({
      ...bridge.readiness(),
      temporal: await temporalAnswers(client),
    }),
  });
  logger.info({ port: ops.port }, 'Serving /metrics, /healthz and /readyz');
  const stop = async () => {
    await bridge.stop();
    await client.connection.close();
    await ops.close();
    logger.info('Bridge stopped');
  };
  onShutdownSignals(logger, stop);
  await bridge.start();
  logger.info({ topic: config.kafka.inputTopic, groupId: config.kafka.groupId, taskQueue: config.temporal.taskQueue }, 'Bridge running');
  const err = await bridge.fatal;
  await stop().catch(() => undefined);
  throw err;
});
