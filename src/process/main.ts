/**
 * How every entry point starts and ends, as in temporalio/samples-typescript's
 * `run().catch(err => { …; process.exit(1) })`: an error of ours prints its one sentence, anything
 * else its chain of causes, and the process exits 1; a number returned becomes the exit code.
 */
import { describeError, PipelineError } from '../errors';

export function runMain(main: () => Promise<number | void>): void {
  main().then(
    (code) => {
      if (typeof code === 'number') process.exitCode = code;
    },
    (err: unknown) => {
      process.stderr.write(`${err instanceof PipelineError ? err.message : describeError(err)}\n`);
      process.exit(1);
    },
  );
}
