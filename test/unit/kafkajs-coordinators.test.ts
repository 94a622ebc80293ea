/**
 * Coordinators kept for a lane producer's transaction manager (src/clients/kafkajs-coordinators.ts),
 * against a fake cluster: looked up once per group and per transactional id, looked up again once
 * a request says the coordinator moved or its connection broke, or when its connection closed;
 * other failures leave it kept.
 */
import assert from 'node:assert/strict';
import { coordinatorLost, keepCoordinatorsOf, type CoordinatorQuery } from '../../src/clients/kafkajs-coordinators';

/* eslint-disable @typescript-eslint/no-require-imports */
const { createErrorFromCode } = require('kafkajs/src/protocol/error') as { createErrorFromCode: (code: number) => Error };
/* eslint-enable @typescript-eslint/no-require-imports */

const TRANSACTION = 1;
const txn = (groupId: string): CoordinatorQuery => ({ groupId, coordinatorType: TRANSACTION });

/** A broker whose endTxn fails with the errors queued in `failures`, in turn, then succeeds. */
class FakeBroker {
  connected = true;
  endTxns = 0;
  readonly failures: Error[] = [];
  constructor(readonly nodeId: number) {}
  isConnected(): boolean {
    return this.connected;
  }
  async endTxn(): Promise<string> {
    this.endTxns++;
    const failure = this.failures.shift();
    if (failure) throw failure;
    return `ended by ${this.nodeId}`;
  }
}

/** A cluster whose lookups answer `current` (changeable), counted by query. */
function fakeCluster(first: FakeBroker) {
  const cluster = {
    current: first,
    lookups: [] as string[],
    async findGroupCoordinator(query: CoordinatorQuery): Promise<FakeBroker> {
      cluster.lookups.push(`${query.coordinatorType ?? 0}:${query.groupId}`);
      return cluster.current;
    },
  };
  return cluster;
}

describe('coordinators kept for a transaction manager', () => {
  it('looks each group and transactional id up once', async () => {
    const cluster = keepCoordinatorsOf(fakeCluster(new FakeBroker(1)));
    for (let i = 0; i < 3; i++) {
      await cluster.findGroupCoordinator(txn('lane-a'));
      await cluster.findGroupCoordinator({ groupId: 'lane-a' });
      await cluster.findGroupCoordinator(txn('lane-b'));
    }
    assert.deepEqual(cluster.lookups, ['1:lane-a', '0:lane-a', '1:lane-b']);
  });

  it('shares one lookup among concurrent callers', async () => {
    const cluster = keepCoordinatorsOf(fakeCluster(new FakeBroker(1)));
    await Promise.all([1, 2, 3].map(() => cluster.findGroupCoordinator(txn('lane'))));
    assert.equal(cluster.lookups.length, 1);
  });

  it('answers with the broker itself: its requests and fields', async () => {
    const broker = new FakeBroker(7);
    const cluster = keepCoordinatorsOf(fakeCluster(broker));
    const found = await cluster.findGroupCoordinator(txn('lane'));
    assert.equal(found.nodeId, 7);
    assert.equal(await found.endTxn(), 'ended by 7');
    assert.equal(broker.endTxns, 1);
  });

  for (const [what, error] of [
    ['moved (NOT_COORDINATOR)', () => createErrorFromCode(16)],
    ['not available (COORDINATOR_NOT_AVAILABLE)', () => createErrorFromCode(15)],
    ['loading (COORDINATOR_LOAD_IN_PROGRESS)', () => createErrorFromCode(14)],
    ['unreachable (a connection error)', () => Object.assign(new Error('Connection error: ECONNREFUSED'), { name: 'KafkaJSConnectionError' })],
  ] as const) {
    it(`looks the coordinator up again after a request says it is ${what}`, async () => {
      const old = new FakeBroker(1);
      old.failures.push(error());
      const cluster = keepCoordinatorsOf(fakeCluster(old));
      await assert.rejects((await cluster.findGroupCoordinator(txn('lane'))).endTxn());
      cluster.current = new FakeBroker(2);
      assert.equal(await (await cluster.findGroupCoordinator(txn('lane'))).endTxn(), 'ended by 2');
      assert.equal(await (await cluster.findGroupCoordinator(txn('lane'))).endTxn(), 'ended by 2');
      assert.equal(cluster.lookups.length, 2);
    });
  }

  it('keeps the coordinator after a failure that does not concern it (CONCURRENT_TRANSACTIONS)', async () => {
    const broker = new FakeBroker(1);
    broker.failures.push(createErrorFromCode(51));
    const cluster = keepCoordinatorsOf(fakeCluster(broker));
    await assert.rejects((await cluster.findGroupCoordinator(txn('lane'))).endTxn(), (err: Error & { type?: string }) => err.type === 'CONCURRENT_TRANSACTIONS');
    assert.equal(await (await cluster.findGroupCoordinator(txn('lane'))).endTxn(), 'ended by 1');
    assert.equal(cluster.lookups.length, 1);
  });

  it('looks a coordinator whose connection closed up again, as kafkajs connects what it finds', async () => {
    const broker = new FakeBroker(1);
    const cluster = keepCoordinatorsOf(fakeCluster(broker));
    await cluster.findGroupCoordinator(txn('lane'));
    broker.connected = false;
    await cluster.findGroupCoordinator(txn('lane'));
    assert.equal(cluster.lookups.length, 2);
  });

  it('does not keep a lookup that failed', async () => {
    const cluster = fakeCluster(new FakeBroker(1));
    let fail = true;
    const find = cluster.findGroupCoordinator;
    cluster.findGroupCoordinator = async (query) => {
      if (fail) {
        fail = false;
        throw createErrorFromCode(15);
      }
      return find(query);
    };
    const keeping = keepCoordinatorsOf(cluster);
    await assert.rejects(keeping.findGroupCoordinator(txn('lane')));
    assert.equal(await (await keeping.findGroupCoordinator(txn('lane'))).endTxn(), 'ended by 1');
  });

  it('names kafkajs’s errors for a lost coordinator, and no others', () => {
    for (const code of [14, 15, 16]) assert.equal(coordinatorLost(createErrorFromCode(code)), true, String(code));
    for (const code of [51, 88, 47, 3]) assert.equal(coordinatorLost(createErrorFromCode(code)), false, String(code));
    assert.equal(coordinatorLost(Object.assign(new Error('closed'), { name: 'KafkaJSConnectionClosedError' })), true);
    assert.equal(coordinatorLost(new Error('something else')), false);
  });
});
