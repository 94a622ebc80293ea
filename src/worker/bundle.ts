/**
 * The workflow code, bundled once at build time. A worker that bundles on start loads webpack
 * and keeps about 100 MB more resident for its whole life; the prebuilt bundle avoids both.
 * Written by the build (src/build/post-compile.ts).
 */
import { readdirSync, statSync, writeFileSync, existsSync, renameSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { bundleWorkflowCode } from '@temporalio/worker';

const LIB_SRC = resolve(__dirname, '..');
export const WORKFLOWS_PATH = join(LIB_SRC, 'workflows');
export const WORKFLOW_BUNDLE_PATH = resolve(LIB_SRC, '..', 'workflow-bundle.js');

export async function writeWorkflowBundle(): Promise<void> {
  const { code } = await bundleWorkflowCode({ workflowsPath: require.resolve(WORKFLOWS_PATH), logger: quietLogger });
  writeFileSync(`${WORKFLOW_BUNDLE_PATH}.tmp`, code);
  renameSync(`${WORKFLOW_BUNDLE_PATH}.tmp`, WORKFLOW_BUNDLE_PATH);
}

/** The prebuilt bundle when it is newer than the compiled workflow code; else bundle on start. */
export function workflowSource(): { workflowBundle: { codePath: string } } | { workflowsPath: string } {
  if (existsSync(WORKFLOW_BUNDLE_PATH) && statSync(WORKFLOW_BUNDLE_PATH).mtimeMs >= newestCompiled()) {
    return { workflowBundle: { codePath: WORKFLOW_BUNDLE_PATH } };
  }
  return { workflowsPath: require.resolve(WORKFLOWS_PATH) };
}

/** Workflow code and the pure code it imports. */
function newestCompiled(): number {
  let newest = 0;
  for (const dir of ['workflows', 'domain']) {
    for (const file of readdirSync(join(LIB_SRC, dir))) newest = Math.max(newest, statSync(join(LIB_SRC, dir, file)).mtimeMs);
  }
  return newest;
}

const quietLogger = {
  log: () => undefined,
  trace: () => undefined,
  debug: () => undefined,
  info: () => undefined,
  warn: (message: string) => process.stderr.write(`${message}\n`),
  error: (message: string) => process.stderr.write(`${message}\n`),
};
