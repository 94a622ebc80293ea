/**
 * A batch's records as the one blob that travels through Temporal. Each record is framed
 * with its exact bytes — offset (u16 length + ASCII digits), key and value (i32 length, -1 for
 * null, + bytes) — and the whole is deflated where the batch is made. So the bridge never
 * decodes or escapes a value, the blob is four times smaller through the server and every copy
 * between the worker's threads, and the activity reads each value as a view of the inflated
 * buffer: a dead letter carries the original bytes without a copy.
 */
import { promisify } from 'node:util';
import { deflateRaw, inflateRaw } from 'node:zlib';
import type { BatchRecord } from './types';

/** How a batch's records blob is encoded (BatchMeta.encoding), so that the format can change. */
export const RECORDS_ENCODING = 'lp-records-v1+deflate';

const deflate = promisify(deflateRaw);
const inflate = promisify(inflateRaw);
const NULL_LENGTH = -1;

export class BlobFormatError extends Error {
  override name = 'BlobFormatError';
}

/** Bytes a record takes in the blob before compression. */
export function framedSize(offset: string, key: Buffer | null, value: Buffer | null): number {
  return 2 + offset.length + 4 + (key?.length ?? 0) + 4 + (value?.length ?? 0);
}

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
  const buf = await inflate(Buffer.from(blob.buffer, blob.byteOffset, blob.byteLength));
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
