/**
 * What the build does after tsc: copies the Redis scripts next to the compiled store and
 * bundles the workflow code once (src/worker/bundle.ts). Run as `node lib/src/build/post-compile.js`
 * by scripts/run.mjs, `npm run build` and the Dockerfile.
 */
import { cpSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { LUA_DIR } from '../insights/scripts';
import { writeWorkflowBundle } from '../worker/bundle';

const SOURCE_ROOT = resolve(__dirname, '..', '..', '..', 'src');

async function main(): Promise<void> {
  cpSync(join(SOURCE_ROOT, 'insights', 'lua'), LUA_DIR, { recursive: true });
  await writeWorkflowBundle();
}

main().catch((err: unknown) => {
  process.stderr.write(`The build's last step failed: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
