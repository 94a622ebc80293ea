/**
 * The environments of the child processes we start: the stack's services, our own services
 * (worker, bridge, dashboard) and the isolated runs of tests and the benchmark.
 */
import { processEnvironment, type Environment } from '../config';

/** Environment for a child process of ours: the parent's, with overrides. */
export function childEnvironment(overrides: Environment = {}): Environment {
  return { ...processEnvironment(), ...overrides };
}

/** The young generation's semi-space of our long-running services, MB; see serviceEnvironment. */
export const SERVICE_SEMI_SPACE_MB = 8;

/** V8 and glibc settings for our long-running services; see serviceEnvironment. */
export const SERVICE_NODE_OPTIONS = [`--max-semi-space-size=${SERVICE_SEMI_SPACE_MB}`, '--max-old-space-size=512'];

/**
 * The environment for a long-running service of ours (worker, bridge, dashboard). With no heap
 * limit on a big machine V8 lets the heap grow long before it collects; a 512 MB limit (the live
 * heap is under 100 MB) and two malloc arenas instead of one per thread keep each process under
 * 250 MB resident. The young generation is 8 MB: at 4 MB the engines spent a quarter of their
 * time scavenging the records of a chunk that were still alive (24,700 records/s in npm run
 * bench); 8 MB gave 31,000 with the worker at 180 MB, 16 and 32 MB no more throughput but more memory.
 * Settings already given win. The worker's engines also start with a larger old generation and
 * with the young one at its full size (src/worker/pool.ts), given on their command line (Node
 * does not take the old generation's in NODE_OPTIONS).
 */
export function serviceEnvironment(overrides: Environment = {}): Environment {
  const env = childEnvironment(overrides);
  const given = env.NODE_OPTIONS ?? '';
  const added = SERVICE_NODE_OPTIONS.filter((option) => !given.includes(option.split('=')[0]!));
  return {
    ...env,
    MALLOC_ARENA_MAX: env.MALLOC_ARENA_MAX ?? '2',
    NODE_OPTIONS: [given, ...added].filter(Boolean).join(' '),
  };
}

/**
 * Names of one run's own topics, consumer group, task queue, insights workflow and Redis prefix,
 * so that a benchmark or a test shares the stack with other runs without touching their state.
 */
export function isolatedEnvironment(id: string): Environment {
  return {
    INPUT_TOPIC: `${id}-in`,
    OUTPUT_TOPIC: `${id}-out`,
    DLQ_TOPIC: `${id}-dlq`,
    KAFKA_GROUP_ID: `${id}-group`,
    TEMPORAL_TASK_QUEUE: `${id}-tq`,
    INSIGHTS_WORKFLOW_ID: `${id}-insights`,
    REDIS_PREFIX: `${id}:`,
    // Ephemeral ports: several runs' processes on one machine.
    BRIDGE_HTTP_PORT: '0',
    WORKER_HTTP_PORT: '0',
  };
}
