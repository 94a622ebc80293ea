/** `npm run test:faults`: the whole fault suite at full size (see suite.ts). */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { LOG_DIR } from '../helpers/processes';
import { ALL_FAULTS, faultTitle, FaultStack, formatTable, runFault, type FaultRow } from './suite';

describe('fault suite (full)', function () {
  this.timeout(20 * 60_000);
  const stack = new FaultStack();
  const rows: FaultRow[] = [];

  before(() => stack.start());
  after(async () => {
    const table = formatTable(rows);
    console.log(`\n${table}\n`);
    writeFileSync(join(LOG_DIR, 'faults-table.md'), `${table}\n`);
    await stack.stop();
  });

  for (const fault of ALL_FAULTS) {
    it(faultTitle(fault), async () => {
      rows.push(await runFault(stack, fault, { records: 20_000, rate: 1000 }));
    });
  }
});
