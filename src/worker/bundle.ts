/**
 * The workflow code, bundled once at build time. A worker that bundles on start loads webpack
 * and keeps about 100 MB more resident for its whole life; the prebuilt bundle avoids both.
 * Written by the build (src/build/post-compile.ts): twice, without and with Temporal's
 * OpenTelemetry workflow interceptors, so that a worker without tracing runs none of their code.
 */
import { readdirSync, statSync, writeFileSync, existsSync, renameSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { bundleWorkflowCode } from '@temporalio/worker';

const LIB_SRC = resolve(__dirname, '..');
export const WORKFLOWS_PATH = join(LIB_SRC, 'workflows');
export const WORKFLOW_BUNDLE_PATH = resolve(LIB_SRC, '..', 'workflow-bundle.js');
export const TRACED_WORKFLOW_BUNDLE_PATH = resolve(LIB_SRC, '..', 'workflow-bundle-traced.js');
/** Temporal's ready-made module of OpenTelemetry workflow interceptors (spans leave through the `exporter` sink). */
const TRACING_INTERCEPTORS = require.resolve('@temporalio/interceptors-opentelemetry/lib/workflow-interceptors');

export async function writeWorkflowBundle(): Promise<void> {
  for (const [path, workflowInterceptorModules] of [
    [WORKFLOW_BUNDLE_PATH, []],
    [TRACED_WORKFLOW_BUNDLE_PATH, [TRACING_INTERCEPTORS]],
  ] as const) {
    const { code } = await bundleWorkflowCode({ workflowsPath: require.resolve(WORKFLOWS_PATH), workflowInterceptorModules: [...workflowInterceptorModules], logger: quietLogger });
    writeFileSync(`${path}.tmp`, code);
    renameSync(`${path}.tmp`, path);
  }
}

type WorkflowSource = { workflowBundle: { codePath: string } } | { workflowsPath: string; interceptors?: { workflowModules: string[] } };

/** The prebuilt bundle (traced or not) when it is newer than the compiled workflow code; else bundle on start. */
export function workflowSource(traced = false): WorkflowSource {
  const path = traced ? TRACED_WORKFLOW_BUNDLE_PATH : WORKFLOW_BUNDLE_PATH;
  if (existsSync(path) && statSync(path).mtimeMs >= newestCompiled()) return { workflowBundle: { codePath: path } };
  return { workflowsPath: require.resolve(WORKFLOWS_PATH), ...(traced ? { interceptors: { workflowModules: [TRACING_INTERCEPTORS] } } : {}) };
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
