/** `npm run test:faults`: the whole fault suite at full size (see suite.ts). */
import { join } from 'node:path';
import { LOG_DIR } from '../helpers/processes';
import { describeFaultSuite } from './suite';

describeFaultSuite('fault suite (full)', { records: 20_000, rate: 1000, timeoutMs: 20 * 60_000, saveTableTo: join(LOG_DIR, 'faults-table.md') });
