import { DefaultLogger, Runtime } from '@temporalio/worker';

let installed = false;

/** In-process workers in tests log errors only (the default logs every state change, and injected failures). */
export function quietTemporalRuntime(): void {
  if (installed) return;
  installed = true;
  try {
    Runtime.install({ logger: new DefaultLogger('ERROR') });
  } catch {
    // Already installed by another test file in this process.
  }
}
