import { loadConfig } from '../config';
import { UsageError } from '../errors';
import { runMain } from '../process/main';
import { stackDown, stackStatus, stackUp } from './stack';

runMain(async () => {
  const config = loadConfig();
  const action = process.argv[2];
  const started = Date.now();
  switch (action) {
    case 'up':
      await stackUp(config);
      console.log(`Stack up in ${((Date.now() - started) / 1000).toFixed(1)} s; state in ${config.stack.dir}.`);
      return 0;
    case 'down':
      await stackDown(config);
      return 0;
    case 'status':
      return (await stackStatus(config)) ? 0 : 3;
    default:
      throw new UsageError(`Unknown stack action "${action}"; one of: up, down, status.`);
  }
});
