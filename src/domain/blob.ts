/**
 * Batches of the first hand-off (before records stayed in Kafka) carried their records in the
 * workflow input as one deflated blob: each record framed with its exact bytes — offset (u16
 * length + ASCII digits), key and value (i32 length, -1 for null, + bytes). Workers still process
 * such batches, so that workflows started before an upgrade finish after it; nothing makes new
 * ones. A blob is inflated with a bound: a crafted one cannot make the worker allocate more.
 */
import { promisify } from 'node:util';
import { deflateRaw, inflateRaw } from 'node:zlib';
import { PipelineError } from '../errors';
import type { BatchRecord } from './types';

/** How the first hand-off encoded a batch's records (LegacyBatchMeta.encoding). */
export const RECORDS_ENCODING = 'lp-records-v1+deflate';

/**
 * The most a blob may inflate to. The first hand-off cut batches at 1.5 MB and handed a lone
 * record to Temporal only under 1.9 MB; 8 MB leaves room and bounds a decompression bomb.
 */
export const MAX_INFLATED_BYTES = 8 * 1024 * 1024;

/** A batch of the first hand-off but its records. */
export interface LegacyBatchMeta {
  batchId: string;
  topic: string;
  partition: number;
  firstOffset: string;
  lastOffset: string;
  count: number;
  encoding: string;
}

const deflate = promisify(deflateRaw);
const inflate = promisify(inflateRaw);
const NULL_LENGTH = -1;

export class BlobFormatError extends PipelineError {
  override name = 'BlobFormatError';
}

/** Bytes a record takes in the blob before compression. */
export function framedSize(offset: string, key: Buffer | null, value: Buffer | null): number {
  return 2 + offset.length + 4 + (key?.length ?? 0) + 4 + (value?.length ?? 0);
}

/** Encodes records as the first hand-off did (tests make such batches with it). */
export async function encodeRecords(records: readonly BatchRecord[]): Promise<Uint8Array> {
  const size = records.reduce((n, r) => n + framedSize(r.offset, r.key, r.value), 0);
  const buf = Buffer.allocUnsafe(size);
  let at = 0;
  for (const { offset, key, value } of records) {
    at = buf.writeUInt16BE(offset.length, at);
    at += buf.write(offset, at, 'latin1');
    at = writeBytes(buf, at, key);
    at = writeBytes(buf, at, value);
  }
  return deflate(buf, { level: 1 });
}

function writeBytes(buf: Buffer, at: number, bytes: Buffer | null): number {
  if (bytes === null) return buf.writeInt32BE(NULL_LENGTH, at);
  const next = buf.writeInt32BE(bytes.length, at);
  buf.set(bytes, next);
  return next + bytes.length;
}

/** The records, each key and value a view of the one inflated buffer. */
export async function decodeRecords(blob: Uint8Array, encoding: string): Promise<BatchRecord[]> {
  if (encoding !== RECORDS_ENCODING) throw new BlobFormatError(`unknown records encoding "${encoding}"`);
  let buf: Buffer;
  try {
    buf = await inflate(Buffer.from(blob.buffer, blob.byteOffset, blob.byteLength), { maxOutputLength: MAX_INFLATED_BYTES });
  } catch (err) {
    throw new BlobFormatError(`the records blob does not inflate to at most ${MAX_INFLATED_BYTES} bytes`, { cause: err });
  }
  const records: BatchRecord[] = [];
  let at = 0;
  const bytes = (): Buffer | null => {
    const length = buf.readInt32BE(at);
    at += 4;
    if (length === NULL_LENGTH) return null;
    if (length < 0 || at + length > buf.length) throw new BlobFormatError(`a record length of ${length} runs past the blob`);
    at += length;
    return buf.subarray(at - length, at);
  };
  while (at < buf.length) {
    const offsetLength = buf.readUInt16BE(at);
    const offset = buf.toString('latin1', at + 2, at + 2 + offsetLength);
    at += 2 + offsetLength;
    const key = bytes();
    records.push({ offset, key, value: bytes() });
  }
  return records;
}
