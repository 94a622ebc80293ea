import { ConfigResourceTypes, type Kafka } from 'kafkajs';

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

/**
 * Each topic's max.message.bytes as the broker reports it; topics it will not describe (missing,
 * or not allowed to this principal) are left out, since callers use this only for advice.
 */
export async function topicMaxMessageBytes(kafka: Kafka, topics: string[]): Promise<Map<string, number>> {
  const admin = kafka.admin();
  try {
    await admin.connect();
    const described = await admin.describeConfigs({
      includeSynonyms: false,
      resources: topics.map((name) => ({ type: ConfigResourceTypes.TOPIC, name, configNames: ['max.message.bytes'] })),
    });
    const sizes = new Map<string, number>();
    for (const resource of described.resources) {
      const entry = resource.errorCode === 0 ? resource.configEntries.find((e) => e.configName === 'max.message.bytes') : undefined;
      if (entry) sizes.set(resource.resourceName, Number(entry.configValue));
    }
    return sizes;
  } catch {
    return new Map();
  } finally {
    await admin.disconnect().catch(() => undefined);
  }
}
