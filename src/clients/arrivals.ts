/**
 * Waits for records to arrive past known ends of a topic's partitions the way Kafka's consumers
 * wait (fetch.max.wait.ms): one fetch per partition leader that the broker holds until a committed
 * record lands past the end it was given, or until `maxWaitMs`. An idle bridge asked for its
 * partitions' ends twenty times a second to see a record within 50 ms; waiting on the broker, it
 * asks once a second and sees the record at once.
 *
 * It only wakes its caller, who then reads the ends as always (ListOffsets): nothing is handed off
 * on what a wait says, so a wait that wakes early or late costs a look, never a record. The fetch
 * is read_committed, so an open transaction does not wake it, and asks for as few bytes as Kafka
 * allows (it still sends one record batch). It has a connection of its own: Kafka answers a
 * connection's requests one at a time and in order, so a held fetch would hold the bridge's
 * commits and lookups behind it.
 */
import type { Kafka } from 'kafkajs';
import { ClusterConnection, READ_COMMITTED } from './kafka';

export class ArrivalWatch {
  private readonly connection: ClusterConnection;
  /** The fetches under way: a wait given up (its caller woken otherwise) leaves them to finish, and the next wait takes them over. */
  private round: Promise<boolean> | undefined;

  constructor(
    kafka: Kafka,
    private readonly topic: string,
  ) {
    this.connection = new ClusterConnection(kafka);
  }

  /**
   * Resolves true when a partition of `ends` has committed records at or past its end, false when
   * `maxWaitMs` passed without any or `signal` aborted. Rejects with Kafka's error (a leader
   * moved, an offset out of range): the caller looks as it did before waiting.
   */
  async wait(ends: ReadonlyMap<number, bigint>, maxWaitMs: number, signal: AbortSignal): Promise<boolean> {
    if (signal.aborted || ends.size === 0) return false;
    const round = (this.round ??= this.fetchRound(ends, maxWaitMs)
      .catch(async (err: unknown) => {
        // A leader that moved, a broker that restarted: the next wait asks the brokers as they are now.
        await this.connection.cluster.refreshMetadata().catch(() => undefined);
        throw err;
      })
      .finally(() => (this.round = undefined)));
    // Still under way when the wait is given up: settled here so that it is never unhandled.
    round.catch(() => undefined);
    return new Promise<boolean>((resolve, reject) => {
      const abandon = () => resolve(false);
      signal.addEventListener('abort', abandon, { once: true });
      round.then(resolve, reject).finally(() => signal.removeEventListener('abort', abandon));
    });
  }

  async close(): Promise<void> {
    await this.connection.close();
  }

  /** One held fetch per leader; true as soon as one of them returns records past an end. */
  private async fetchRound(ends: ReadonlyMap<number, bigint>, maxWaitMs: number): Promise<boolean> {
    await this.connection.connect();
    const { cluster } = this.connection;
    await cluster.addTargetTopic(this.topic);
    const leaders = Object.entries(cluster.findLeaderForPartitions(this.topic, [...ends.keys()]));
    if (leaders.length === 0) throw new Error(`No leader is known for the partitions of ${this.topic}.`);
    const fetches = leaders.map(async ([nodeId, partitions]) => {
      const broker = await cluster.findBroker({ nodeId });
      const { responses } = await broker.fetch({
        isolationLevel: READ_COMMITTED,
        maxWaitTime: maxWaitMs,
        minBytes: 1,
        maxBytes: 1,
        topics: [{ topic: this.topic, partitions: partitions.map((partition) => ({ partition, fetchOffset: String(ends.get(partition)), maxBytes: 1 })) }],
      });
      return responses.some((r) => r.partitions.some((p) => BigInt(p.lastStableOffset ?? p.highWatermark) > ends.get(p.partition)!));
    });
    // The first leader with news wakes the caller; the others' fetches end by themselves.
    return new Promise<boolean>((resolve, reject) => {
      fetches.forEach((f) => f.then((arrived) => arrived && resolve(true), reject));
      Promise.all(fetches).then((all) => resolve(all.some(Boolean)), reject);
    });
  }
}
