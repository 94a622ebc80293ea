/** A tool the local stack needs is missing; the message says what to install. */
export class PrerequisiteError extends Error {
  override name = 'PrerequisiteError';
}

/** A service of the local stack did not become healthy in time. */
export class StackStartError extends Error {
  override name = 'StackStartError';
  constructor(message: string, readonly logFile?: string) {
    super(logFile ? `${message} (see ${logFile})` : message);
  }
}
