import type { Kafka } from 'kafkajs';

/**
 * Creates the topics that do not exist yet. Where the principal may not create topics (a managed
 * cluster), a refusal is not an error here: the first produce then names the missing topic.
 */
export async function ensureTopics(kafka: Kafka, topics: string[], numPartitions = 1): Promise<void> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    const existing = new Set(await admin.listTopics());
    const missing = topics.filter((t) => !existing.has(t));
    if (missing.length === 0) return;
    await admin
      .createTopics({ waitForLeaders: true, topics: missing.map((topic) => ({ topic, numPartitions })) })
      .catch((err: unknown) => {
        if (!(err instanceof Error && /already exists|TOPIC_ALREADY_EXISTS/i.test(err.message))) throw err;
      });
  } finally {
    await admin.disconnect();
  }
}
