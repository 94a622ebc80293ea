/**
 * `npm run bridge -- --resume [--url http://host:port]`: resumes the input of a bridge whose
 * circuit breaker paused it (src/bridge/breaker.ts), by POST /breaker/resume on its ops port
 * (BRIDGE_HTTP_PORT on this host unless --url says where). The same as `kill -USR2 <pid>` of the
 * bridge. Prints one sentence; exits 1 when the bridge cannot be reached.
 */
import type { Config } from '../config';
import { describeError, PipelineError, UsageError } from '../errors';
import { parseOptions } from '../cli/options';
import type { BreakerState } from './breaker';

const TIMEOUT_MS = 5_000;

export async function resumeCommand(config: Config, args: string[]): Promise<number> {
  const opts = parseOptions(args, { resume: 'boolean', url: 'string' });
  const base = (opts.url ?? (config.http.bridgePort === 0 ? undefined : `http://127.0.0.1:${config.http.bridgePort}`))?.replace(/\/+$/, '');
  if (!base) throw new UsageError('BRIDGE_HTTP_PORT is 0 (the bridge picked its port at start): give its address with --url http://host:port, as its log says.');
  let answer: { resumed: boolean; state: BreakerState };
  try {
    const res = await fetch(`${base}/breaker/resume`, { method: 'POST', signal: AbortSignal.timeout(TIMEOUT_MS) });
    if (!res.ok) throw new Error(`HTTP ${res.status}: ${(await res.text()).trim()}`);
    answer = (await res.json()) as typeof answer;
  } catch (err) {
    throw new PipelineError(`Could not reach the bridge at ${base}: ${describeError(err).replace(/\.$/, '')}.`, { cause: err, retriable: true });
  }
  if (answer.resumed) process.stdout.write(`Resumed the input of the bridge at ${base}: the records waiting in Kafka go through (${answer.state.grace} of them uncounted by the breaker).\n`);
  else if (!answer.state.enabled) process.stdout.write(`The bridge at ${base} has no circuit breaker (DLQ_MAX_RATIO is not set): nothing to resume.\n`);
  else process.stdout.write(`The breaker of the bridge at ${base} is not open: nothing to resume.\n`);
  return 0;
}
