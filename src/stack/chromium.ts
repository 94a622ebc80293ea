/** Debian's Chromium, for the browser tests (the Web UI and the dashboard). */
import { existsSync } from 'node:fs';
import { PrerequisiteError } from '../errors';
import { runVisible, which } from './proc';

export const CHROMIUM_PATH = '/usr/bin/chromium';

export async function ensureChromium(searchPath: string[]): Promise<string> {
  if (existsSync(CHROMIUM_PATH)) return CHROMIUM_PATH;
  const apt = which('apt-get', [...searchPath, '/usr/bin']);
  if (!apt || process.getuid?.() !== 0) {
    throw new PrerequisiteError('The browser tests need Chromium: install it (Debian: sudo apt-get install chromium), then run the tests again.');
  }
  console.log("Installing Chromium from Debian's packages for the browser tests (first run only)…");
  const env = { DEBIAN_FRONTEND: 'noninteractive' };
  await runVisible(apt, ['-qq', 'update'], { env });
  await runVisible(apt, ['-qq', 'install', '-y', '--no-install-recommends', 'chromium'], { env });
  return CHROMIUM_PATH;
}
