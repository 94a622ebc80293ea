/**
 * `npm test`: provisions the local stack (idempotent: reuses what runs), then runs the mocha
 * suite. Arguments go to mocha (`npm test -- --grep bridge`).
 */
import { spawn } from 'node:child_process';
import { loadConfig } from '../config';
import { CHROMIUM_PACKAGE } from '../stack/chromium';
import { stackUp } from '../stack/stack';
import { runMain } from '../process/main';

const DEFAULT_SPEC = ['lib/test/unit/**/*.test.js', 'lib/test/integration/**/*.test.js'];

runMain(async () => {
  const config = loadConfig();
  console.log('Provisioning the local stack…');
  // Chromium in the same apt transaction as the stack's packages: two apt-get at once fail.
  await stackUp(config, console.log, { packages: [CHROMIUM_PACKAGE] });
  const mocha = require.resolve('mocha/bin/mocha.js');
  const args = process.argv.slice(2);
  const files = args.some((a) => a.endsWith('.js')) ? [] : DEFAULT_SPEC;
  const child = spawn(process.execPath, [mocha, ...files, ...args], { stdio: 'inherit' });
  const code = await new Promise<number>((resolve) => child.on('exit', (c, signal) => resolve(c ?? (signal ? 1 : 0))));
  return code;
});
