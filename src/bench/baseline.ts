/**
 * The baseline users compare us with: a plain kafkajs consume → the same pure transform →
 * produce loop. No Temporal, no Redis, no guarantees beyond at-least-once.
 */
import { Partitioners, type Kafka, type Message } from 'kafkajs';
import { transformRecord } from '../domain/transform';

const SEND_CHUNK = 1000;

export interface BaselineResult {
  records: number;
  seconds: number;
}

export async function runBaseline(kafka: Kafka, names: { input: string; output: string; dlq: string; groupId: string }, expected: number): Promise<BaselineResult> {
  const consumer = kafka.consumer({ groupId: names.groupId, maxBytesPerPartition: 4 * 1024 * 1024 });
  const producer = kafka.producer({ createPartitioner: Partitioners.DefaultPartitioner, allowAutoTopicCreation: false });
  await producer.connect();
  await consumer.connect();
  await consumer.subscribe({ topic: names.input, fromBeginning: true });
  let processed = 0;
  let finish: () => void = () => undefined;
  const finished = new Promise<void>((resolve) => (finish = resolve));
  // Timed, as the pipeline is, from the moment the consumer has joined its group.
  let started = 0;
  consumer.on(consumer.events.GROUP_JOIN, () => (started ||= Date.now()));
  await consumer.run({
    eachBatchAutoResolve: true,
    eachBatch: async ({ batch }) => {
      const nowMs = Date.now();
      const logins: Message[] = [];
      const dead: Message[] = [];
      for (const m of batch.messages) {
        const source = { topic: batch.topic, partition: batch.partition, offset: m.offset };
        const outcome = transformRecord(m.value, { source, batchId: 'baseline', nowMs });
        if (outcome.ok) logins.push({ key: outcome.login.user_id, value: JSON.stringify(outcome.login), headers: { type: 'login' } });
        else dead.push({ key: m.key, value: m.value, headers: { 'dlq.reason': outcome.rejection.reason, 'dlq.error': outcome.rejection.error } });
      }
      // Requests of at most SEND_CHUNK records (a record batch must stay under the broker's 1 MB), sent at once.
      const sends: Promise<unknown>[] = [];
      for (const [topic, messages] of [[names.output, logins], [names.dlq, dead]] as const) {
        for (let i = 0; i < messages.length; i += SEND_CHUNK) sends.push(producer.send({ topic, acks: -1, messages: messages.slice(i, i + SEND_CHUNK) }));
      }
      await Promise.all(sends);
      processed += batch.messages.length;
      if (processed >= expected) finish();
    },
  });
  await finished;
  const seconds = (Date.now() - started) / 1000;
  await consumer.disconnect();
  await producer.disconnect();
  return { records: processed, seconds };
}
