/** readAhead: the same items in the same order, the next one read while the caller works, failures in their place. */
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { readAhead } from '../../src/process/read-ahead';
import { waitUntil } from '../../src/process/wait';

/** A source that counts what was asked of it, and whether it was closed. */
function counted<T>(items: T[], failAt?: number) {
  const state = { pulled: 0, closed: false };
  async function* source(): AsyncGenerator<T> {
    try {
      for (let i = 0; i < items.length; i++) {
        state.pulled = i + 1;
        await new Promise((r) => setImmediate(r));
        if (i === failAt) throw new Error(`item ${i} could not be read`);
        yield items[i]!;
      }
    } finally {
      state.closed = true;
    }
  }
  return { state, source: source() };
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
      await waitUntil(() => state.pulled >= Math.min(item + 1, 4), { timeoutMs: 2_000, intervalMs: 1, message: `item ${item + 1} to be read ahead` });
      await new Promise((r) => setTimeout(r, 5));
      seen.push(state.pulled);
    }
    assert.deepEqual(seen, [2, 3, 4, 4], 'one item ahead of the caller, never two');
  });

  it("fails at the item the source failed at, after the ones before it, with the source's error", async () => {
    const { source } = counted([1, 2, 3], 2);
    const out: number[] = [];
    await assert.rejects(
      (async () => {
        for await (const item of readAhead(source)) {
          // The caller is slow: the failure happens while it works, and must wait for it to ask.
          await new Promise((r) => setTimeout(r, 10));
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
