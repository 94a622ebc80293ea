/**
 * Produce requests encoded in one pass into one buffer, byte for byte as kafkajs 2.2.4 encodes
 * them (src/protocol/requests/produce/v3/request.js, which versions 4 to 7 reuse).
 *
 * kafkajs builds every record as an Encoder of its own (a buffer allocation, then one more per
 * header and per varint) and copies it into its batch, the batch into its partition, the
 * partition into its request. Profiled in a worker engine at full speed, that was a quarter of
 * the engine's CPU, and much of its garbage collection. Here each request is measured first, then
 * written once into a buffer of its exact size.
 *
 * Installed per process, by the processes that publish (the worker and its engines), through
 * kafkajs's table of request versions, which a broker consults at every produce. A request this
 * encoder does not cover (compression, records with their own timestamps, a key, value or header
 * of a type other than string or Buffer) goes to kafkajs's encoder unchanged. Property-tested
 * against kafkajs's own encoding (test/unit/produce-encoding.test.ts).
 *
 * The batch checksum (CRC-32C) is native (@node-rs/crc32, with the CPU's CRC instruction): kafkajs's
 * is a table lookup per byte, about 0.5 GB/s here against 6, and it was 7-9% of an engine's CPU.
 */
import { crc32c } from '@node-rs/crc32';

/* eslint-disable @typescript-eslint/no-require-imports */

interface KafkajsLong {
  getHighBits(): number;
  getLowBits(): number;
}

interface ProduceMessage {
  key?: unknown;
  value?: unknown;
  headers?: Record<string, unknown>;
  timestamp?: unknown;
}

interface ProducePartition {
  partition: number;
  firstSequence?: number;
  messages: ProduceMessage[];
}

export interface ProduceArgs {
  acks: number;
  timeout: number;
  compression?: number;
  transactionalId?: string | null;
  producerId?: unknown;
  producerEpoch?: number;
  topicData: { topic: string; partitions: ProducePartition[] }[];
}

interface KafkajsRequest {
  request: { encode: () => Promise<unknown> };
  response: unknown;
}

type ProduceVersion = (args: ProduceArgs) => KafkajsRequest;

interface ProduceDefinition {
  versions: string[];
  protocol: (which: { version: number }) => ProduceVersion;
}

const produceDefinition = require('kafkajs/src/protocol/requests/produce/index.js') as ProduceDefinition;
const Encoder = require('kafkajs/src/protocol/encoder.js') as new (initialSize?: number) => { buf: Buffer; offset: number };
const Long = require('kafkajs/src/utils/long.js') as { fromValue(value: unknown): KafkajsLong; fromInt(value: number): KafkajsLong };

const MAGIC_BYTE = 2;
const TRANSACTIONAL_ATTRIBUTE = 16;
/** firstOffset (8), length (4), leader epoch (4), magic (1), crc (4). */
const BATCH_HEAD_BYTES = 21;
/** attributes (2), lastOffsetDelta (4), two timestamps (16), producer id (8), epoch (2), first sequence (4), record count (4). */
const BATCH_BODY_HEAD_BYTES = 40;
const FAST = Symbol('login-pipeline fast produce encoding');
const NEWEST_PRODUCE_VERSION = Math.max(...produceDefinition.versions.map(Number));

/** Makes kafkajs encode this process's produce requests here (idempotent). */
export function installFastProduceEncoding(): void {
  const definition = produceDefinition as ProduceDefinition & { [FAST]?: true };
  if (definition[FAST]) return;
  const original = definition.protocol;
  definition.protocol = ({ version }) => {
    const make = original({ version });
    if (version < 3) return make;
    return (args) => {
      const built = make(args);
      if (!encodable(args)) return built;
      return { ...built, request: { ...built.request, encode: async () => wrap(encodeProduceRequest(args)) } };
    };
  };
  definition[FAST] = true;
}

/**
 * A produce request's bytes, encoded as a kafkajs broker encodes one: its arguments built as
 * kafkajs 2.2.4's Broker.produce builds them (these fields, in this order), through the table the
 * fast encoding is installed in, at the newest version kafkajs knows (the one it asks Kafka 2.1
 * and later with). A worker engine's rehearsal runs its requests through here, so that the
 * code compiled for them is the code real requests run (src/worker/warm-up.ts).
 */
export async function encodeAsBroker(request: { topicData: ProduceArgs['topicData']; transactionalId: string; producerId: string; producerEpoch: number }): Promise<number> {
  const { topicData, transactionalId, producerId, producerEpoch } = request;
  const args: ProduceArgs = { acks: -1, timeout: 30_000, compression: 0, topicData, transactionalId, producerId, producerEpoch };
  const encoded = (await produceDefinition.protocol({ version: NEWEST_PRODUCE_VERSION })(args).request.encode()) as { offset: number };
  return encoded.offset;
}

/** kafkajs's request framing takes an Encoder; this one holds the finished bytes. */
function wrap(bytes: Buffer): unknown {
  const encoder = new Encoder(0);
  encoder.buf = bytes;
  encoder.offset = bytes.length;
  return encoder;
}

/** Whether this encoder covers the request; otherwise kafkajs's own encodes it. */
export function encodable(args: ProduceArgs): boolean {
  if (args.compression) return false;
  for (const { partitions } of args.topicData) {
    for (const { messages } of partitions) {
      for (const m of messages) {
        if (m.timestamp != null || !isBytes(m.key) || !isBytes(m.value)) return false;
        if (m.headers && !headersEncodable(m.headers)) return false;
      }
    }
  }
  return true;
}

function isBytes(value: unknown): boolean {
  return value == null || typeof value === 'string' || Buffer.isBuffer(value);
}

function headersEncodable(headers: Record<string, unknown>): boolean {
  for (const key of Object.keys(headers)) {
    const value = headers[key];
    const values = Array.isArray(value) ? value : [value];
    for (const v of values) if (typeof v !== 'string' && !Buffer.isBuffer(v)) return false;
  }
  return true;
}

/** The request body (after kafkajs's header), as kafkajs's produce v3 encodes it. */
export function encodeProduceRequest(args: ProduceArgs): Buffer {
  const now = Date.now();
  const transactionalId = args.transactionalId ?? null;
  const producerId = Long.fromValue(args.producerId ?? Long.fromInt(-1));
  // A chunk's logins share one headers object: flattened once per request.
  const headers = new Map<object, unknown[]>();
  const sizes = measure(args, headers);
  const out = new Writer(Buffer.allocUnsafe(sizes.total));
  out.string(transactionalId);
  out.int16(args.acks);
  out.int32(args.timeout);
  out.int32(args.topicData.length);
  let batch = 0;
  let record = 0;
  for (const { topic, partitions } of args.topicData) {
    out.string(topic);
    out.int32(partitions.length);
    for (const { partition, firstSequence, messages } of partitions) {
      const batchBytes = sizes.batches[batch++]!;
      out.int32(partition);
      out.int32(batchBytes);
      out.int64(0, 0);
      out.int32(batchBytes - 12);
      out.int32(0);
      out.int8(MAGIC_BYTE);
      const crcAt = out.offset;
      out.offset += 4;
      const bodyAt = out.offset;
      out.int16(transactionalId ? TRANSACTIONAL_ATTRIBUTE : 0);
      out.int32(messages.length - 1);
      out.int64(Math.floor(now / 2 ** 32), now >>> 0);
      out.int64(Math.floor(now / 2 ** 32), now >>> 0);
      out.int64(producerId.getHighBits(), producerId.getLowBits());
      out.int16(args.producerEpoch ?? 0);
      out.int32(firstSequence ?? 0);
      out.int32(messages.length);
      for (let i = 0; i < messages.length; i++) writeRecord(out, messages[i]!, i, sizes.bodies[record++]!, headers);
      out.buf.writeUInt32BE(crc32c(out.buf.subarray(bodyAt, out.offset)), crcAt);
    }
  }
  return out.buf;
}

interface Sizes {
  total: number;
  /** Each partition's record batch, in order: what kafkajs calls the record set's size. */
  batches: number[];
  /** Each record's body, in order: measured once, written in front of the record. */
  bodies: Int32Array;
}

function measure(args: ProduceArgs, headers: HeadersCache): Sizes {
  let total = stringSize(args.transactionalId ?? null) + 2 + 4 + 4;
  const batches: number[] = [];
  let count = 0;
  for (const { partitions } of args.topicData) for (const { messages } of partitions) count += messages.length;
  const bodies = new Int32Array(count);
  let record = 0;
  for (const { topic, partitions } of args.topicData) {
    total += stringSize(topic) + 4;
    for (const { messages } of partitions) {
      let records = 0;
      for (let i = 0; i < messages.length; i++) {
        const body = recordBodySize(messages[i]!, i, headers);
        bodies[record++] = body;
        records += varIntSize(body) + body;
      }
      const batchBytes = BATCH_HEAD_BYTES + BATCH_BODY_HEAD_BYTES + records;
      batches.push(batchBytes);
      total += 8 + batchBytes;
    }
  }
  return { total, batches, bodies };
}

function recordBodySize(message: ProduceMessage, offsetDelta: number, cache: HeadersCache): number {
  // attributes (1), timestampDelta 0 as a varlong (1)
  let size = 2 + varIntSize(offsetDelta) + bytesSize(message.key) + bytesSize(message.value);
  const headers = flatHeaders(message.headers, cache);
  size += varIntSize(headers.length / 2);
  for (let i = 0; i < headers.length; i += 2) size += bytesSize(headers[i]) + bytesSize(headers[i + 1]);
  return size;
}

function writeRecord(out: Writer, message: ProduceMessage, offsetDelta: number, bodySize: number, cache: HeadersCache): void {
  out.varInt(bodySize);
  out.int8(0);
  out.int8(0);
  out.varInt(offsetDelta);
  out.bytes(message.key);
  out.bytes(message.value);
  const headers = flatHeaders(message.headers, cache);
  out.varInt(headers.length / 2);
  for (let i = 0; i < headers.length; i += 2) {
    out.bytes(headers[i]);
    out.bytes(headers[i + 1]);
  }
}

const NO_HEADERS: unknown[] = [];

/** Headers objects flattened during one request's encoding (not longer: a caller may change one between sends). */
type HeadersCache = Map<object, unknown[]>;

/** A message's headers as [key, value, key, value…], an array value as repeated keys (as kafkajs does). */
function flatHeaders(headers: Record<string, unknown> | undefined, cache: HeadersCache): unknown[] {
  if (!headers) return NO_HEADERS;
  let flat = cache.get(headers);
  if (flat) return flat;
  flat = [];
  for (const key of Object.keys(headers)) {
    const value = headers[key];
    if (Array.isArray(value)) for (const v of value) flat.push(key, v);
    else flat.push(key, value);
  }
  cache.set(headers, flat);
  return flat;
}

function stringSize(value: string | null): number {
  return 2 + (value === null ? 0 : Buffer.byteLength(value, 'utf8'));
}

function bytesSize(value: unknown): number {
  if (value == null) return 1;
  const length = Buffer.isBuffer(value) ? value.length : Buffer.byteLength(value as string, 'utf8');
  return varIntSize(length) + length;
}

function varIntSize(value: number): number {
  let v = ((value << 1) ^ (value >> 31)) >>> 0;
  let size = 1;
  while (v >= 0x80) {
    v >>>= 7;
    size++;
  }
  return size;
}

/** Writes big-endian integers, zigzag varints and length-prefixed bytes into a buffer of known size. */
class Writer {
  offset = 0;
  constructor(readonly buf: Buffer) {}

  int8(value: number): void {
    this.buf[this.offset++] = value & 0xff;
  }

  int16(value: number): void {
    this.buf.writeInt16BE(value, this.offset);
    this.offset += 2;
  }

  int32(value: number): void {
    this.buf.writeInt32BE(value, this.offset);
    this.offset += 4;
  }

  int64(high: number, low: number): void {
    this.buf.writeInt32BE(high | 0, this.offset);
    this.buf.writeInt32BE(low | 0, this.offset + 4);
    this.offset += 8;
  }

  varInt(value: number): void {
    let v = ((value << 1) ^ (value >> 31)) >>> 0;
    while (v >= 0x80) {
      this.buf[this.offset++] = (v & 0x7f) | 0x80;
      v >>>= 7;
    }
    this.buf[this.offset++] = v;
  }

  string(value: string | null): void {
    if (value === null) return this.int16(-1);
    const length = Buffer.byteLength(value, 'utf8');
    this.int16(length);
    this.offset += this.buf.write(value, this.offset, length, 'utf8');
  }

  bytes(value: unknown): void {
    if (value == null) return this.varInt(-1);
    if (Buffer.isBuffer(value)) {
      this.varInt(value.length);
      this.offset += value.copy(this.buf, this.offset);
      return;
    }
    const length = Buffer.byteLength(value as string, 'utf8');
    this.varInt(length);
    this.offset += this.buf.write(value as string, this.offset, length, 'utf8');
  }
}
