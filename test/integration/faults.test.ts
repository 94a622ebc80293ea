/** The fault suite at the size CI affords (npm run test:faults runs it at full size). */
import { describeFaultSuite } from '../faults/suite';

describeFaultSuite('fault suite (CI size)', { records: 3000, rate: 500, outageSeconds: 30, attemptTimeoutMs: 8_000, timeoutMs: 10 * 60_000 });
