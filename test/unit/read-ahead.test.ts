/** readAhead: the same items in the same order, the next one read while the caller works, failures in their place. */
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { readAhead } from '../../src/process/read-ahead';
import { waitUntil } from '../../src/process/wait';

/** A source that counts the items asked of it, those it has answered (with the item or its failure), and whether it was closed. */
function counted<T>(items: T[], failAt?: number) {
  const state = { pulled: 0, answered: 0, closed: false };
  async function* source(): AsyncGenerator<T> {
    try {
      for (let i = 0; i < items.length; i++) {
        state.pulled = i + 1;
        await new Promise((r) => setImmediate(r));
        state.answered = i + 1;
        if (i === failAt) throw new Error(`item ${i} could not be read`);
        yield items[i]!;
      }
    } finally {
      state.closed = true;
    }
  }
  return { state, source: source() };
}

/** Until the source has answered `n` items; then one more turn of the event loop, in which a reader that reads too far would ask again. */
async function answered(state: { answered: number }, n: number): Promise<void> {
  await waitUntil(() => state.answered >= n, { timeoutMs: 2_000, intervalMs: 1, message: `the source to answer ${n} items` });
  await new Promise((r) => setImmediate(r));
}

describe('readAhead', () => {
  it('gives every item of the source, in order', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(fc.integer(), { maxLength: 30 }), async (items) => {
        const out: number[] = [];
        for await (const item of readAhead(counted(items).source)) out.push(item);
        assert.deepEqual(out, items);
      }),
      { numRuns: 100 },
    );
  });

  it('reads the next item while the caller works on the current one, and no further', async () => {
    const { state, source } = counted([1, 2, 3, 4]);
    const seen: number[] = [];
    for await (const item of readAhead(source)) {
      await answered(state, Math.min(item + 1, 4));
      seen.push(state.pulled);
    }
    assert.deepEqual(seen, [2, 3, 4, 4], 'one item ahead of the caller, never two');
  });

  it("fails at the item the source failed at, after the ones before it, with the source's error", async () => {
    const { state, source } = counted([1, 2, 3], 2);
    const out: number[] = [];
    await assert.rejects(
      (async () => {
        for await (const item of readAhead(source)) {
          // The failure happens while the caller works on item 2, and must wait for it to ask.
          await answered(state, item + 1);
          out.push(item);
        }
      })(),
      /item 2 could not be read/,
    );
    assert.deepEqual(out, [1, 2]);
  });

  it('closes the source when the caller stops early', async () => {
    const { state, source } = counted([1, 2, 3, 4]);
    await assert.rejects(
      (async () => {
        for await (const item of readAhead(source)) if (item === 2) throw new Error('publishing failed');
      })(),
      /publishing failed/,
    );
    await waitUntil(() => state.closed || undefined, { timeoutMs: 2_000, intervalMs: 1, message: 'the source to be closed' });
    assert.equal(state.pulled, 3, 'it had read one item ahead, and no more');
  });
});
