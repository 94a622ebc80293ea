/** The fault suite at the size CI affords (npm run test:faults runs it at full size). */
import { ALL_FAULTS, faultTitle, FaultStack, formatTable, runFault, type FaultRow } from '../faults/suite';

describe('fault suite (CI size)', function () {
  this.timeout(10 * 60_000);
  const stack = new FaultStack();
  const rows: FaultRow[] = [];

  before(() => stack.start());
  after(async () => {
    console.log(`\n${formatTable(rows)}\n`);
    await stack.stop();
  });

  for (const fault of ALL_FAULTS) {
    it(faultTitle(fault), async () => {
      rows.push(await runFault(stack, fault, { records: 3000, rate: 500 }));
    });
  }
});
