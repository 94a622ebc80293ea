/** `npm run test:faults`: the whole fault suite at full size (see suite.ts). */
import { join } from 'node:path';
import { LOG_DIR } from '../helpers/processes';
import { describeFaultSuite } from './suite';

// Outages of 3 minutes, and Redis frozen for 3 × the product's 2-minute attempt timeout.
describeFaultSuite('fault suite (full)', {
  records: 20_000,
  rate: 1000,
  outageSeconds: 180,
  attemptTimeoutMs: 120_000,
  timeoutMs: 20 * 60_000,
  saveTableTo: join(LOG_DIR, 'faults-table.md'),
});
