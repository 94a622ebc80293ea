/**
 * `npm start`: the whole product at once. Brings up the local stack (installing what is
 * missing), then the worker, the bridge, the dashboard and the generator at 2 records/s like the
 * original; prints where to look. Ctrl-C stops everything gracefully, the stack included when
 * this command started it; state under STACK_DIR survives for the next start.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { isInteractive, loadConfig, type Config } from '../config';
import { serviceEnvironment } from '../process/environment';
import { stackDown, stackUp } from '../stack/stack';
import { onSignals } from '../process/signals';
import { runMain } from '../process/main';

interface Component {
  name: string;
  entry: string;
  args: string[];
  readyLine?: string;
}

const COMPONENTS: Component[] = [
  { name: 'worker', entry: 'lib/src/worker/main.js', args: [], readyLine: 'Worker running' },
  { name: 'bridge', entry: 'lib/src/bridge/main.js', args: [], readyLine: 'Bridge running' },
  { name: 'dashboard', entry: 'lib/src/dashboard/main.js', args: [], readyLine: 'Dashboard at ' },
  { name: 'generator', entry: 'lib/src/cli/generate.js', args: ['--rate', '2'] },
];

runMain(async () => {
  const config = loadConfig();
  console.log('Starting the local stack (first run installs Kafka, Temporal and Redis; later runs reuse them)…');
  const states = await stackUp(config);
  const ownStack = [...states.values()].some((s) => s === 'started');
  const children = COMPONENTS.map((c) => launch(c));
  let stopping = false;
  const stopAll = async (signal: NodeJS.Signals) => {
    stopping = true;
    console.log(`\nStopping gracefully (${signal}; press Ctrl-C again to exit at once)…`);
    // The children may have had this Ctrl-C from the terminal already; they take one within a second as the same.
    for (const { child } of children) if (child.exitCode === null) child.kill(signal);
    await Promise.all(children.map((c) => c.exited));
    if (ownStack) {
      console.log('Stopping the local stack this command started…');
      await stackDown(config);
    }
    console.log(`Stopped. State is kept in ${config.stack.dir} for the next start.`);
    process.exit(0);
  };
  onSignals(
    (signal) => void stopAll(signal),
    () => {
      for (const { child } of children) child.kill('SIGKILL');
      process.exit(130);
    },
  );
  const [, , dashboardLine] = await Promise.all(children.map((c) => c.ready));
  const dashboardUrl = /Dashboard at (\S+?)["\s]/.exec(`${dashboardLine ?? ''} `)?.[1] ?? `http://127.0.0.1:${config.http.dashboardPort}`;
  if (!stopping) printWhereToLook(config, dashboardUrl);
  // A component that dies on its own takes the others down with it: a half-running pipeline misleads.
  const firstExit = await Promise.race(children.map((c) => c.exited.then(() => c)));
  if (!stopping) {
    console.error(`${firstExit.component.name} exited (code ${firstExit.child.exitCode}); stopping the rest.`);
    await stopAll('SIGTERM');
  }
});

function launch(component: Component): { component: Component; child: ChildProcess; ready: Promise<string | undefined>; exited: Promise<void> } {
  const child = spawn(process.execPath, [component.entry, ...component.args], {
    env: serviceEnvironment({ LOG_FORMAT: isInteractive() ? 'pretty' : 'json' }),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let markReady: (line?: string) => void = () => undefined;
  const ready = component.readyLine ? new Promise<string | undefined>((resolve) => (markReady = resolve)) : Promise.resolve(undefined);
  const exited = new Promise<void>((resolve) => child.on('exit', () => (markReady(), resolve())));
  for (const stream of [child.stdout!, child.stderr!]) {
    createInterface({ input: stream }).on('line', (line) => {
      if (component.readyLine && line.includes(component.readyLine)) markReady(line);
      process.stdout.write(`${component.name.padEnd(9)}| ${line}\n`);
    });
  }
  return { component, child, ready, exited };
}

function printWhereToLook(config: Config, dashboardUrl: string): void {
  const ui = config.temporal.uiUrl;
  const batchQuery = `BatchTopic="${config.kafka.inputTopic}"`;
  const batches = `${ui}/namespaces/${encodeURIComponent(config.temporal.namespace)}/workflows?query=${encodeURIComponent(batchQuery)}`;
  // Commands as a user types them in another terminal: `temporal` through npm, which runs the CLI the stack built.
  console.log(`
────────────────────────────────────────────────────────────────────────────
 The login pipeline is running: ${config.kafka.inputTopic} → Temporal → ${config.kafka.outputTopic} / ${config.kafka.dlqTopic}
   Temporal Web UI   ${ui}
   batches           ${batches}
   dashboard         ${dashboardUrl}
   metrics           http://127.0.0.1:${config.http.bridgePort}/metrics (bridge), http://127.0.0.1:${config.http.workerPort}/metrics (worker)
 In another terminal:
${commands([
    ['npm run tail', 'processed logins and summaries'],
    [`npm run tail -- --topic ${shellWord(config.kafka.dlqTopic)}`, 'dead letters, with their reasons'],
    ['npm run query', `the last ${config.summary.windowSeconds} s per app version, from Redis`],
  ])}
 The latest summary, and the batches of ${config.kafka.inputTopic}, from Temporal:
   npm run temporal -- workflow query --workflow-id ${shellWord(config.temporal.insightsWorkflowId)} --type latestSummary
   npm run temporal -- workflow list --query ${shellWord(batchQuery)}
 A summary is published to ${config.kafka.outputTopic} every ${config.summary.intervalSeconds} s. Ctrl-C stops everything.
────────────────────────────────────────────────────────────────────────────
`);
}

function commands(rows: [string, string][]): string {
  const width = Math.max(...rows.map(([command]) => command.length));
  return rows.map(([command, what]) => `   ${command.padEnd(width)}  ${what}`.trimEnd()).join('\n');
}

/** A word as a POSIX shell reads it back unchanged: quoted when it holds anything but safe characters. */
function shellWord(word: string): string {
  return /^[\w@%+=:,./-]+$/.test(word) ? word : `'${word.replace(/'/g, `'\\''`)}'`;
}
