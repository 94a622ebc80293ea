/** `npm run test:cluster`: the fault suite on the cluster profile (see cluster.ts), under load, no duplicate allowed. */
import { join } from 'node:path';
import { LOG_DIR } from '../helpers/processes';
import { ClusterFaultStack } from './cluster';
import { describeFaultSuite } from './suite';

describeFaultSuite(
  'fault suite on the cluster profile',
  { records: 10_000, rate: 500, outageSeconds: 30, attemptTimeoutMs: 30_000, timeoutMs: 20 * 60_000, saveTableTo: join(LOG_DIR, 'cluster-faults-table.md') },
  () => new ClusterFaultStack(),
);
