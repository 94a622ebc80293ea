/**
 * One error family, after kafkajs's KafkaJSError: every error the product throws on purpose
 * derives from PipelineError. Its message is one sentence a user can act on; `retriable` says
 * whether trying again can help (an outage) or not (bad configuration, bad input); `cause` keeps
 * the error it explains. Pure: workflow code may import it.
 */
export class PipelineError extends Error {
  override name = 'PipelineError';
  readonly retriable: boolean;

  constructor(message: string, options: { cause?: unknown; retriable?: boolean } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.retriable = options.retriable ?? false;
  }
}

/** The environment has bad values; the message names every one. */
export class ConfigError extends PipelineError {
  override name = 'ConfigError';
  constructor(readonly problems: string[]) {
    super(`Invalid configuration: ${problems.join('; ')}.`);
  }
}

/** A command was given options it does not take. */
export class UsageError extends PipelineError {
  override name = 'UsageError';
}

/** A tool the local stack needs is missing; the message says what to install. */
export class PrerequisiteError extends PipelineError {
  override name = 'PrerequisiteError';
}

/** A service of the local stack did not become healthy in time. */
export class StackStartError extends PipelineError {
  override name = 'StackStartError';
  constructor(message: string, readonly logFile?: string) {
    super(logFile ? `${message} (see ${logFile})` : message);
  }
}

/** Something we depend on (Kafka, Temporal, Redis) does not answer; waiting may help. */
export class ServiceUnavailableError extends PipelineError {
  override name = 'ServiceUnavailableError';
  constructor(
    readonly service: string,
    readonly address: string,
    hint: string,
    cause?: unknown,
  ) {
    super(`${service} does not answer at ${address}${hint ? `: ${hint}` : ''}.`, { cause, retriable: true });
  }
}

/** A wait with a deadline ran out. */
export class DeadlineExceededError extends PipelineError {
  override name = 'DeadlineExceededError';
  constructor(message: string, cause?: unknown) {
    super(message, { cause, retriable: true });
  }
}

/** Work stopped because its caller asked it to (a signal, a cancelled activity). */
export class CancelledError extends PipelineError {
  override name = 'CancelledError';
  constructor(what: string, cause?: unknown) {
    super(`${what} was cancelled.`, { cause });
  }
}

/** A command was stopped by a signal (Ctrl-C, SIGTERM) before its work was done. */
export class InterruptedError extends PipelineError {
  override name = 'InterruptedError';
  constructor(
    readonly signal: string,
    sentence: string,
    cause?: unknown,
  ) {
    super(sentence, { cause });
  }
}

/** Whether trying again can help. Errors not of our family are treated as transient. */
export function isRetriable(err: unknown): boolean {
  if (err instanceof PipelineError) return err.retriable;
  const flagged = (err as { retriable?: unknown } | null)?.retriable;
  return typeof flagged === 'boolean' ? flagged : true;
}

/**
 * The broker's error code name (e.g. `MESSAGE_TOO_LARGE`) of a kafkajs error, found on the error
 * or on any error it wraps. kafkajs gives no error classes per code, so this one function reads
 * its `type` field; nothing else in the product looks at error text or types of Kafka errors.
 */
export function kafkaErrorType(err: unknown): string | undefined {
  for (let current = err, depth = 0; current && depth < 5; depth++) {
    const type = (current as { type?: unknown }).type;
    if (typeof type === 'string') return type;
    current = (current as { cause?: unknown; originalError?: unknown }).cause ?? (current as { originalError?: unknown }).originalError;
  }
  return undefined;
}

/** The error's message and its chain of causes, never its other fields (which may hold configuration). */
export function describeError(err: unknown): string {
  const parts: string[] = [];
  let current: unknown = err;
  for (let depth = 0; current !== undefined && current !== null && depth < 5; depth++) {
    parts.push(current instanceof Error ? `${current.name}: ${current.message}` : String(current));
    current = current instanceof Error ? current.cause : undefined;
  }
  return parts.join(' ← ');
}
