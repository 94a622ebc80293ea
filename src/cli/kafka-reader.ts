/** Kafka for the read-only operator commands (dlq, reconcile): quick to say it is down, and one sentence when it is. */
import type { Admin, Kafka } from 'kafkajs';
import { createKafka, kafkaAddress } from '../clients/kafka';
import { RangeReader } from '../clients/range-reader';
import type { Config } from '../config';
import { describeError, PipelineError } from '../errors';

/** Retries of a refused connection or request: a few seconds, not the services' minute. */
const COMMAND_RETRIES = 3;

export interface KafkaReader {
  kafka: Kafka;
  admin: Admin;
  /** Reads topics as read_committed consumers see them (src/clients/topic-range.ts). */
  ranges: RangeReader;
  close(): Promise<void>;
}

export async function connectKafkaReader(config: Config, clientId: string): Promise<KafkaReader> {
  const kafka = createKafka(config.kafka, { clientId: `${config.kafka.clientId}-${clientId}`, retries: COMMAND_RETRIES });
  const admin = kafka.admin();
  try {
    await admin.connect();
  } catch (err) {
    throw kafkaFailure(err, config, 'connect to Kafka');
  }
  const ranges = new RangeReader(kafka);
  return { kafka, admin, ranges, close: async () => void (await Promise.allSettled([ranges.close(), admin.disconnect()])) };
}

/** An error of ours passes as it is; anything else becomes one sentence naming the brokers. */
export function kafkaFailure(err: unknown, config: Config, what: string): PipelineError {
  if (err instanceof PipelineError) return err;
  const message = err instanceof Error ? err.message : describeError(err);
  return new PipelineError(`Could not ${what} at ${kafkaAddress(config.kafka)}: ${message.replace(/\.$/, '')}.`, { cause: err, retriable: true });
}
