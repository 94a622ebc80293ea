import { DefaultLogger, Runtime } from '@temporalio/worker';

let installed = false;

/** In-process workers in tests log warnings only (the default runtime logs every state change). */
export function quietTemporalRuntime(): void {
  if (installed) return;
  installed = true;
  try {
    Runtime.install({ logger: new DefaultLogger('WARN') });
  } catch {
    // Already installed by another test file in this process.
  }
}
