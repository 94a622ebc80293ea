/**
 * Hostile input through the real pipeline: every case of the corpus lands in the DLQ with the
 * right reason and field (its bytes unchanged), or in OUTPUT_TOPIC when valid, and the pipeline
 * keeps going.
 */
import assert from 'node:assert/strict';
import { DEAD_LETTER_HEADROOM_BYTES, KAFKA_DEFAULT_MAX_MESSAGE_BYTES, topicMaxMessageBytes } from '../../src/clients/topics';
import { hostileCorpus } from '../fixtures/hostile';
import { formatAccounting } from '../helpers/accounting';
import { setMaxMessageBytes } from '../helpers/kafka';
import { PipelineHarness } from '../helpers/pipeline';
import { waitFor } from '../helpers/wait';

describe('hostile input through the pipeline', function () {
  it('dead-letters each bad record with its reason, publishes each valid one, and never stops', async () => {
    const corpus = hostileCorpus();
    assert.ok(corpus.length >= 200, `at least 200 cases (${corpus.length})`);
    const harness = new PipelineHarness('hostile', { BATCH_MAX_RECORDS: '50', IP_MASKING: 'truncate' });
    try {
      await harness.setup();
      await harness.startAll();
      await harness.produce(corpus.map((c, i) => ({ key: c.key === undefined ? `case-${i}` : c.key, value: c.value, partition: 0 })));
      // One ordinary record after the corpus: the pipeline must still be processing.
      await harness.produce([{ key: 'after', value: JSON.stringify({ user_id: 'after', app_version: '2.3.0', timestamp: Math.floor(Date.now() / 1000), ip: '10.1.2.3' }), partition: 0 }]);
      const accounting = await harness.waitForAllAccounted(180_000);
      assert.equal(accounting.inputs, corpus.length + 1);
      assert.equal(accounting.duplicates, 0, formatAccounting(accounting));

      const logins = new Map(harness.logins().map((m) => [JSON.parse(m.value!.toString()).source.offset as string, m]));
      const dead = new Map(harness.deadLetters().map((m) => [m.headers['dlq.source.offset']!, m]));
      const wrong: string[] = [];
      corpus.forEach((c, offset) => {
        const login = logins.get(String(offset));
        const letter = dead.get(String(offset));
        if (c.expect === 'login') {
          if (!login) wrong.push(`${c.name}: expected a login, got ${letter ? `${letter.headers['dlq.reason']} (${letter.headers['dlq.error']})` : 'nothing'}`);
          return;
        }
        if (!letter) return wrong.push(`${c.name}: expected ${c.expect.reason}, got a login`);
        if (letter.headers['dlq.reason'] !== c.expect.reason || letter.headers['dlq.field'] !== c.expect.field) {
          wrong.push(`${c.name}: expected ${c.expect.reason}/${c.expect.field}, got ${letter.headers['dlq.reason']}/${letter.headers['dlq.field']}`);
        }
        const original = c.value === null || c.value.length === 0 ? null : c.value;
        const got = letter.value === null || letter.value.length === 0 ? null : letter.value;
        if (!(original === null ? got === null : got !== null && original.equals(got))) wrong.push(`${c.name}: the dead letter's bytes differ from the input`);
        const error = letter.headers['dlq.error'] ?? '';
        if (!error || error.length > 300 || /[\u0000-\u001f]/.test(error)) wrong.push(`${c.name}: dlq.error is not one short clean sentence: ${JSON.stringify(error.slice(0, 80))}`);
      });
      assert.deepEqual(wrong, []);
      const after = JSON.parse(logins.get(String(corpus.length))!.value!.toString());
      assert.equal(after.ip, '10.1.2.0', 'IP_MASKING=truncate keeps the /24');
      assert.ok(harness.worker.running && harness.bridge.running, 'neither process stopped');
    } finally {
      await harness.close();
    }
  });

  const valid = (user: string) => JSON.stringify({ user_id: user, app_version: '2.3.0', timestamp: Math.floor(Date.now() / 1000) });
  /** Over Temporal's 2 MB payload limit: records never travel through Temporal, so this is a record like any other. */
  const TEMPORAL_PAYLOAD_LIMIT = 2 * 1024 * 1024;
  const huge = Buffer.from(JSON.stringify({ user_id: 'huge', app_version: '2.3.0', timestamp: Math.floor(Date.now() / 1000), pad: 'x'.repeat(TEMPORAL_PAYLOAD_LIMIT + 1000) }));
  const hugeInvalid = Buffer.alloc(TEMPORAL_PAYLOAD_LIMIT + 1000, 'x');

  it('handles records larger than a Temporal payload like any other: the valid one is a login, the invalid one a dead letter', async () => {
    const harness = new PipelineHarness('oversized');
    try {
      await harness.setup({ maxMessageBytes: 4 * 1024 * 1024 });
      await harness.startAll();
      assert.doesNotMatch(harness.bridge.logText(), /dead-letter topic/, 'no warning when the DLQ takes what the input takes');
      await harness.produce([{ key: 'before', value: valid('before') }]);
      await harness.produce([{ key: 'huge', value: huge }]);
      await harness.produce([{ key: 'huge-invalid', value: hugeInvalid }]);
      await harness.produce([{ key: 'after', value: valid('after') }]);
      const accounting = await harness.waitForAllAccounted();
      assert.equal(accounting.inputs, 4);
      assert.deepEqual(accounting.lost, [], formatAccounting(accounting));
      assert.equal(accounting.duplicates, 0, formatAccounting(accounting));
      assert.deepEqual(harness.logins().map((m) => JSON.parse(m.value!.toString()).user_id).sort(), ['after', 'before', 'huge']);
      const [letter] = harness.deadLetters();
      assert.equal(letter!.headers['dlq.source.offset'], '2');
      assert.equal(letter!.headers['dlq.reason'], 'invalid_json');
      assert.ok(letter!.value!.equals(hugeInvalid), 'the dead letter carries the record unchanged');
      await harness.waitForRedisExact();
    } finally {
      await harness.close();
    }
  });

  it('creates a DLQ that takes the input topic\'s largest record with headers: a bad record at the limit is dead-lettered unchanged', async () => {
    const harness = new PipelineHarness('dlq-room');
    const { inputTopic, dlqTopic } = harness.config.kafka;
    try {
      await harness.worker.start(); // creates OUTPUT_TOPIC and DLQ_TOPIC; the input topic, at the broker's default, comes later
      const dlqLimit = (await topicMaxMessageBytes(harness.kafka, [dlqTopic])).get(dlqTopic);
      assert.equal(dlqLimit, KAFKA_DEFAULT_MAX_MESSAGE_BYTES + DEAD_LETTER_HEADROOM_BYTES, 'the worker made room for the largest input record');
      await harness.setup();
      await harness.bridge.start();
      const inputLimit = (await topicMaxMessageBytes(harness.kafka, [inputTopic])).get(inputTopic)!;
      const atLimit = Buffer.alloc(inputLimit - 200, 'x'); // not JSON, and as large as the input takes
      await harness.produce([{ key: 'at-limit', value: atLimit }]);
      await harness.produce([{ key: 'after', value: valid('after') }]);
      const accounting = await harness.waitForAllAccounted(60_000);
      assert.deepEqual(accounting.lost, [], formatAccounting(accounting));
      const [letter] = harness.deadLetters();
      assert.equal(letter!.headers['dlq.reason'], 'invalid_json');
      assert.ok(letter!.value!.equals(atLimit), 'the dead letter carries the record unchanged');
    } finally {
      await harness.close();
    }
  });

  it('warns at start when the DLQ takes smaller records than the input, names the fix when one is refused, and goes on once it is applied', async () => {
    const harness = new PipelineHarness('dlq-too-small');
    const { inputTopic, dlqTopic } = harness.config.kafka;
    const refusal = new RegExp(`${dlqTopic} refused a record as too large \\(about \\d+ bytes, from input offset [12]\\); raise its max.message.bytes`);
    try {
      await harness.setup({ maxMessageBytes: 4 * 1024 * 1024, dlqMaxMessageBytes: 1024 * 1024 });
      await harness.startAll();
      assert.match(harness.bridge.logText(), new RegExp(`dead-letter topic ${dlqTopic} takes messages up to 1048576 bytes, but a dead letter of ${inputTopic}'s largest record needs ${4 * 1024 * 1024 + DEAD_LETTER_HEADROOM_BYTES}`));
      const tooLargeForDlq = Buffer.alloc(1_500_000, 'x');
      await harness.produce([{ key: 'before', value: valid('before') }]);
      await harness.produce([{ key: 'too-large', value: tooLargeForDlq }]);
      await harness.produce([{ key: 'larger-than-temporal', value: hugeInvalid }]);
      await harness.produce([{ key: 'after', value: valid('after') }]);
      await waitFor(() => refusal.test(harness.worker.logText()), {
        timeoutMs: 30_000,
        message: () => `the worker to name the DLQ's size limit\nworker: ${harness.worker.tail(3)}`,
      });
      assert.equal(harness.deadLetters().length, 0, 'nothing dead-lettered while the DLQ refuses: its batch is retried, whole');

      await setMaxMessageBytes(harness.kafka, dlqTopic, 4 * 1024 * 1024 + DEAD_LETTER_HEADROOM_BYTES);
      const accounting = await harness.waitForAllAccounted(90_000);
      assert.deepEqual(accounting.lost, [], formatAccounting(accounting));
      assert.equal(accounting.duplicates, 0, formatAccounting(accounting));
      assert.deepEqual(harness.deadLetters().map((m) => m.key?.toString()).sort(), ['larger-than-temporal', 'too-large']);
      assert.deepEqual(harness.logins().map((m) => m.key?.toString()).sort(), ['after', 'before']);
      await harness.waitForRedisExact();
    } finally {
      await harness.close();
    }
  });
});
