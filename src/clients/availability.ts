/**
 * Waiting for the services a process needs (Kafka, Temporal, Redis) when it starts: each one is
 * probed until it answers, with backoff, and a service that does not answer is named in one
 * sentence (where it was looked for and how to start it), once, not at every retry. Meanwhile
 * /readyz says which one is missing. Once all answer, the process goes on without a restart.
 */
import { describeError, PipelineError, ServiceUnavailableError } from '../errors';
import type { Logger } from '../log';
import { retry } from '../process/retry';

export interface Dependency {
  /** As /readyz names it: kafka, temporal, redis. */
  name: string;
  /** As a sentence names it: Kafka, Temporal, Redis. */
  label: string;
  address: string;
  /** What to do about it, for the sentence. */
  hint: string;
  /** Resolves when the service answers; rejects when it does not. */
  probe(): Promise<void>;
  /** Whether a probe's error is a refusal (bad credentials) that waiting cannot cure. */
  refused?(err: unknown): boolean;
}

/** A service answered but refused us (bad credentials): the process stops and says so. */
export class ServiceRefusedError extends PipelineError {
  override name = 'ServiceRefusedError';
}

/** The hint for a service of the local stack. */
export const LOCAL_STACK_HINT = 'start the local stack with `npm run stack:up` (or point the configuration at yours); retrying';

export class Dependencies {
  private readonly up = new Map<string, boolean>();

  constructor(
    private readonly dependencies: Dependency[],
    private readonly logger: Logger,
  ) {
    for (const d of dependencies) this.up.set(d.name, false);
  }

  /** Each dependency by name: true once it answered. */
  readiness(): Record<string, boolean> {
    return Object.fromEntries(this.up);
  }

  /** Resolves once every dependency has answered; retries forever unless `signal` aborts. */
  async waitForAll(signal?: AbortSignal): Promise<void> {
    await Promise.all(this.dependencies.map((d) => this.waitFor(d, signal)));
  }

  private async waitFor(dependency: Dependency, signal?: AbortSignal): Promise<void> {
    let reported = false;
    await retry(
      async () => {
        try {
          await dependency.probe();
        } catch (err) {
          if (dependency.refused?.(err)) {
            throw new ServiceRefusedError(`${dependency.label} at ${dependency.address} refused to let us in: ${describeError(err)}.`, { cause: err });
          }
          throw new ServiceUnavailableError(dependency.label, dependency.address, dependency.hint, err);
        }
      },
      {
        initialMs: 500,
        maxMs: 10_000,
        signal,
        onRetry: (err, attempt, retryInMs) => {
          if (!reported) this.logger.warn({ dependency: dependency.name, address: dependency.address }, (err as Error).message);
          else this.logger.debug({ dependency: dependency.name, attempt, retryInMs, err }, 'Still waiting for a service');
          reported = true;
        },
      },
    );
    this.up.set(dependency.name, true);
    if (reported) this.logger.info({ dependency: dependency.name, address: dependency.address }, `${dependency.label} answers at ${dependency.address}`);
  }
}
