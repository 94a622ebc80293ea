/**
 * Group and transaction coordinators looked up once and kept until a request to one fails because
 * it moved or its connection broke, as the Java client does (it marks the coordinator unknown on
 * NOT_COORDINATOR, COORDINATOR_NOT_AVAILABLE or a disconnection, and looks it up again).
 *
 * kafkajs 2.2.4 keeps none: its cluster's findGroupCoordinator sends a FindCoordinator every
 * time, and its transaction manager (src/producer/eosManager) calls it before each of a
 * transaction's AddPartitionsToTxn, AddOffsetsToTxn, TxnOffsetCommit and EndTxn. At a steady
 * 2,000 records/s that was four of an engine's sixteen requests per transaction, one after the
 * other. kafkajs names the errors that say a coordinator moved with the old protocol names
 * (NOT_COORDINATOR_FOR_GROUP, GROUP_COORDINATOR_NOT_AVAILABLE, GROUP_LOAD_IN_PROGRESS); its own
 * transaction manager checks for the new ones, which it never gets.
 */
import { kafkaErrorType } from '../errors';

/** kafkajs's names of the errors after which a coordinator is looked up again. */
const COORDINATOR_LOST = new Set([
  'NOT_COORDINATOR_FOR_GROUP',
  'GROUP_COORDINATOR_NOT_AVAILABLE',
  'GROUP_LOAD_IN_PROGRESS',
  'KafkaJSConnectionError',
  'KafkaJSConnectionClosedError',
  'KafkaJSRequestTimeoutError',
  'KafkaJSBrokerNotFound',
]);

/** Whether `err` says the coordinator a request went to is no longer one, or cannot be reached. */
export function coordinatorLost(err: unknown): boolean {
  return COORDINATOR_LOST.has(kafkaErrorType(err) ?? '') || COORDINATOR_LOST.has((err as Error | undefined)?.name ?? '');
}

export interface CoordinatorQuery {
  groupId: string;
  /** kafkajs's COORDINATOR_TYPES: 0 a group, 1 a transactional id. */
  coordinatorType?: number;
}

/** The part of kafkajs's internal Cluster this needs. */
export interface CoordinatorFinder<B> {
  findGroupCoordinator(query: CoordinatorQuery): Promise<B>;
}

/** A broker as kafkajs's cluster returns it: connected, and authenticated where SASL is on. */
interface Connectable {
  isConnected?(): boolean;
}

/** A kept coordinator, and how to forget it once a request to it says it is lost. */
export interface KeptCoordinator<B> {
  broker: B;
  forget(): void;
}

/**
 * One lookup per group (or transactional id), shared by concurrent callers, until forgotten. A kept
 * broker whose connection closed is looked up again, which connects (and authenticates) it as
 * kafkajs's own lookup does.
 */
export class KeptCoordinators<B extends Connectable> {
  private readonly lookups = new Map<string, Promise<B>>();

  constructor(private readonly find: (query: CoordinatorQuery) => Promise<B>) {}

  async acquire(query: CoordinatorQuery): Promise<KeptCoordinator<B>> {
    const key = `${query.coordinatorType ?? 0}\u0000${query.groupId}`;
    const kept = this.lookups.get(key);
    if (kept) {
      const broker = await kept.catch(() => undefined);
      if (broker && broker.isConnected?.() !== false) return { broker, forget: () => this.forget(key, kept) };
      this.forget(key, kept);
    }
    const lookup = this.lookups.get(key) ?? this.lookUp(key, query);
    return { broker: await lookup, forget: () => this.forget(key, lookup) };
  }

  private lookUp(key: string, query: CoordinatorQuery): Promise<B> {
    const lookup = this.find(query);
    this.lookups.set(key, lookup);
    lookup.catch(() => this.forget(key, lookup));
    return lookup;
  }

  /** Forgets `lookup` (a newer one, made meanwhile, stays). */
  private forget(key: string, lookup: Promise<B>): void {
    if (this.lookups.get(key) === lookup) this.lookups.delete(key);
  }
}

const keptByCluster = new WeakMap<object, KeptCoordinators<Connectable>>();

/** The coordinators kept for `cluster` (one set per cluster object). */
export function keptCoordinators<B extends Connectable>(cluster: CoordinatorFinder<B>): KeptCoordinators<B> {
  let kept = keptByCluster.get(cluster) as KeptCoordinators<B> | undefined;
  if (!kept) {
    const find = cluster.findGroupCoordinator.bind(cluster);
    kept = new KeptCoordinators<B>(find);
    keptByCluster.set(cluster, kept as KeptCoordinators<Connectable>);
  }
  return kept;
}

/**
 * Makes `cluster.findGroupCoordinator` answer from kept lookups, in place; each broker it returns
 * is a view whose requests forget the lookup when they fail with a lost coordinator, so that
 * kafkajs's own retries look it up again. For the cluster of a lane's producer, whose only
 * coordinator lookups are its transaction manager's: requests go to the broker unchanged.
 */
export function keepCoordinatorsOf<C extends CoordinatorFinder<object>>(cluster: C): C {
  if (keeping.has(cluster)) return cluster;
  const kept = keptCoordinators(cluster);
  cluster.findGroupCoordinator = async (query: CoordinatorQuery) => {
    const { broker, forget } = await kept.acquire(query);
    return forgettingOnLoss(broker, forget);
  };
  keeping.add(cluster);
  return cluster;
}

const keeping = new WeakSet<object>();

/** A view of `broker` whose requests call `forget` when they fail with a lost coordinator. */
function forgettingOnLoss<B extends object>(broker: B, forget: () => void): B {
  return new Proxy(broker, {
    get(target, property) {
      const value = Reflect.get(target, property, target) as unknown;
      if (typeof value !== 'function') return value;
      return (...args: unknown[]) => {
        const result = (value as (...a: unknown[]) => unknown).apply(target, args);
        if (result instanceof Promise) {
          return result.catch((err: unknown) => {
            if (coordinatorLost(err)) forget();
            throw err;
          });
        }
        return result;
      };
    },
  });
}
