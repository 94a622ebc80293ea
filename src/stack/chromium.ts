/** Debian's Chromium, for the browser tests (the Web UI and the dashboard). */
import { existsSync } from 'node:fs';
import type { DebianPackage } from './apt';

export const CHROMIUM_PATH = '/usr/bin/chromium';

/** Installed by `npm test` in the same apt transaction as the stack's packages. */
export const CHROMIUM_PACKAGE: DebianPackage = {
  name: 'chromium',
  purpose: 'the browser tests',
  present: () => existsSync(CHROMIUM_PATH),
};
