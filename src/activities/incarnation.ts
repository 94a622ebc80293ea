/**
 * Before a batch reads its ranges: are they still the partitions the bridge cut them from? The
 * bridge keeps an incarnation token in the metadata of its group's committed offsets
 * (src/domain/commit-metadata.ts); deleting the topic, or wiping Kafka's data, deletes those
 * offsets and so the token. A batch of the old topic then stops here rather than read the new
 * topic's records at the same offsets.
 */
import type { ClusterConnection } from '../clients/kafka';
import { fetchCommittedOffsets } from '../clients/stable-offsets';
import type { BatchSpec } from '../domain/batch';
import { parseCommitMetadata } from '../domain/commit-metadata';
import { PipelineError } from '../errors';

/** The bridge has not recorded the partition's incarnation yet (it does so on start): try again later. */
export class IncarnationUnknownError extends PipelineError {
  override name = 'IncarnationUnknownError';
}

export class IncarnationCheck {
  constructor(private readonly connection: Pick<ClusterConnection, 'cluster' | 'connect'>) {}

  /** Connects and finds the group's coordinator now, so that the first batch does not wait for it. */
  async prepare(groupId: string, topic: string): Promise<void> {
    await this.connection.connect();
    await fetchCommittedOffsets(this.connection.cluster, groupId, topic, [0]);
  }

  /**
   * Undefined when every range's partition is the one the batch was cut from; else the sentence
   * that says which is not. Throws IncarnationUnknownError (retriable) while the group has no token.
   */
  async check(spec: BatchSpec): Promise<string | undefined> {
    await this.connection.connect();
    const partitions = [...new Set(spec.ranges.map((r) => r.partition))];
    const committed = await fetchCommittedOffsets(this.connection.cluster, spec.groupId, spec.topic, partitions);
    for (const range of spec.ranges) {
      const { token } = parseCommitMetadata(committed.get(range.partition)?.metadata);
      if (token === undefined) {
        throw new IncarnationUnknownError(
          `Partition ${range.partition} of ${spec.topic} has no incarnation recorded by group ${spec.groupId}; a bridge records it when it takes the partition.`,
          { retriable: true },
        );
      }
      if (token !== range.incarnation) {
        return (
          `Partition ${range.partition} of ${spec.topic} is not the one this batch was cut from (the topic was recreated, ` +
          `Kafka's data wiped, or the group's offsets reset): offsets ${range.from}-${range.to} of the old partition cannot be read, so nothing was published for them.`
        );
      }
    }
    return undefined;
  }
}
