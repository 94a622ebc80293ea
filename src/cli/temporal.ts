/**
 * `npm run temporal -- <args>`: the Temporal CLI the stack uses (one on PATH, else the one built
 * into the cache, built first when missing), pointed at the pipeline's Temporal: TEMPORAL_ADDRESS,
 * TEMPORAL_NAMESPACE and the TLS settings of the configuration, unless the arguments say
 * otherwise. Its output, input and exit code are the CLI's own.
 */
import { spawn } from 'node:child_process';
import { constants } from 'node:os';
import { loadConfig, type Config, type Environment } from '../config';
import { runMain } from '../process/main';
import { childEnvironment } from '../process/environment';
import { stackLayout } from '../stack/layout';
import { interruptible } from '../stack/provision';
import { ensureTemporalCli } from '../stack/temporal';

runMain(async () => {
  const config = loadConfig();
  const cli = await interruptible('Building the Temporal CLI', (signal) => ensureTemporalCli(config, stackLayout(config), signal));
  const child = spawn(cli, process.argv.slice(2), { stdio: 'inherit', env: cliEnvironment(config) });
  // Signals go to the CLI (a Ctrl-C reaches it from the terminal as well): it decides how to stop, and its exit is passed on.
  const forward = (signal: NodeJS.Signals) => child.kill(signal);
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.on(signal, forward);
  return new Promise<number>((resolve, reject) => {
    child.on('error', reject);
    child.on('exit', (code, signal) => resolve(code ?? 128 + (signal ? constants.signals[signal] : 0)));
  });
});

/** The CLI reads these itself (its `--address`, `--namespace`, … flags win over them). */
function cliEnvironment(config: Config): Environment {
  const { address, namespace, tls, apiKey } = config.temporal;
  const env: Environment = { TEMPORAL_ADDRESS: address, TEMPORAL_NAMESPACE: namespace };
  if (apiKey) env.TEMPORAL_API_KEY = apiKey;
  if (tls) {
    env.TEMPORAL_TLS = 'true';
    if (tls.caFile) env.TEMPORAL_TLS_SERVER_CA_CERT_PATH = tls.caFile;
    if (tls.certFile) env.TEMPORAL_TLS_CLIENT_CERT_PATH = tls.certFile;
    if (tls.keyFile) env.TEMPORAL_TLS_CLIENT_KEY_PATH = tls.keyFile;
    if (tls.serverName) env.TEMPORAL_TLS_SERVER_NAME = tls.serverName;
  } else {
    // Our TEMPORAL_TLS takes yes/no/on/off, the CLI only true/false: it is ours to translate.
    env.TEMPORAL_TLS = undefined;
  }
  return childEnvironment(env);
}
