import assert from 'node:assert/strict';
import { replicationFor } from '../../src/clients/topics';

describe('topic replication', () => {
  it('is min(3, brokers) copies, with acks=all waiting for all but one', () => {
    assert.deepEqual(replicationFor(1), { replicationFactor: 1, minInsyncReplicas: 1 });
    assert.deepEqual(replicationFor(2), { replicationFactor: 2, minInsyncReplicas: 1 });
    assert.deepEqual(replicationFor(3), { replicationFactor: 3, minInsyncReplicas: 2 });
    assert.deepEqual(replicationFor(9), { replicationFactor: 3, minInsyncReplicas: 2 });
  });
});
