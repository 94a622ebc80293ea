/**
 * A lane's transactions on a real broker: a new attempt's producer fences every earlier producer
 * of the lane, and the lane's mark, read after the fence, decides whether a chunk was published
 * already. Readers with read_committed see each chunk once.
 */
import assert from 'node:assert/strict';
import { createKafka } from '../../src/clients/kafka';
import { LaneTransactions } from '../../src/clients/transactions';
import { createLogger } from '../../src/log';
import { testEnv } from '../helpers/env';
import { createTopics, TopicReader } from '../helpers/kafka';
import { waitFor } from '../helpers/wait';

describe('lane transactions', function () {
  const { id, config } = testEnv('lanes');
  const kafka = createKafka(config.kafka, { clientId: 'test' });
  const anchor = `${id}-anchor`;
  const output = `${id}-out`;
  const transactions = new LaneTransactions(kafka, createLogger('worker', config), { transactionTimeoutMs: 30_000, maxRequestBytes: 512 * 1024, idleMs: 60_000 });
  const record = (value: string) => ({ topic: output, message: { key: value, value }, size: value.length + 16, offset: '0' });

  before(async () => {
    await createTopics(kafka, [anchor, output], 1);
  });
  after(async () => {
    await transactions.close();
  });

  it('fences an earlier attempt of the lane, and publishes each chunk once', async () => {
    const lane = `${id}-group/${anchor}/run/lane-0`;
    const first = transactions.lease(lane);
    assert.equal(await first.publishOnce(anchor, 1n, [record('chunk 1, first attempt')]), 'published');
    // A retry of the lane while the first attempt still holds its producer: a producer of its own.
    const retry = transactions.lease(lane);
    await retry.ready();
    await assert.rejects(first.publishOnce(anchor, 2n, [record('chunk 2, first attempt')]), 'the first attempt is fenced before the retry sends anything');
    first.release();
    assert.equal(await retry.publishOnce(anchor, 1n, [record('chunk 1, retry')]), 'already-published', 'the mark says chunk 1 is out');
    assert.equal(await retry.publishOnce(anchor, 2n, [record('chunk 2, retry')]), 'published');
    retry.release();

    const reader = await new TopicReader(kafka, [output]).start();
    try {
      await waitFor(() => reader.of(output).length >= 2, { timeoutMs: 30_000, message: 'both chunks to be readable' });
      assert.deepEqual(
        reader.of(output).map((m) => m.value!.toString()),
        ['chunk 1, first attempt', 'chunk 2, retry'],
        'read_committed: each chunk once, nothing of the fenced attempt after the fence',
      );
    } finally {
      await reader.close();
    }
  });
});
