/** EncodedBytes ⇄ Buffer: UTF-8 text travels as a string, anything else as base64. */
import { isUtf8 } from 'node:buffer';
import type { BatchRecord, EncodedBytes } from './types';

export function encodeBytes(bytes: Buffer | null): EncodedBytes | null {
  if (bytes === null) return null;
  return isUtf8(bytes) ? bytes.toString('utf8') : { b64: bytes.toString('base64') };
}

export function decodeBytes(encoded: EncodedBytes | null): Buffer | null {
  if (encoded === null) return null;
  return typeof encoded === 'string' ? Buffer.from(encoded, 'utf8') : Buffer.from(encoded.b64, 'base64');
}

/**
 * Bytes that `bytes`, encoded, add to a JSON payload, never under the truth, so that batches stay
 * under Temporal's payload limit. Text costs its UTF-8 bytes plus its escapes: one more byte for
 * a quote or a backslash, up to five more for a control character. One pass over the bytes.
 */
export function encodedSize(bytes: Buffer | null, encoded: EncodedBytes | null): number {
  if (bytes === null || encoded === null) return 4;
  if (typeof encoded !== 'string') return encoded.b64.length + 12;
  let size = bytes.length + 2;
  for (let i = 0; i < bytes.length; i++) {
    const b = bytes[i]!;
    if (b < 0x20) size += 5;
    else if (b === 0x22 || b === 0x5c) size += 1;
  }
  return size;
}

/** A batch's records as the one blob that travels through Temporal. */
export function encodeRecords(records: BatchRecord[]): Uint8Array {
  return Buffer.from(JSON.stringify(records), 'utf8');
}

export function decodeRecords(blob: Uint8Array): BatchRecord[] {
  return JSON.parse(Buffer.from(blob.buffer, blob.byteOffset, blob.byteLength).toString('utf8')) as BatchRecord[];
}
