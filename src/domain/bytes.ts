/** EncodedBytes ⇄ Buffer: UTF-8 text travels as a string, anything else as base64. */
import { isUtf8 } from 'node:buffer';
import type { EncodedBytes } from './types';

export function encodeBytes(bytes: Buffer | null): EncodedBytes | null {
  if (bytes === null) return null;
  return isUtf8(bytes) ? bytes.toString('utf8') : { b64: bytes.toString('base64') };
}

export function decodeBytes(encoded: EncodedBytes | null): Buffer | null {
  if (encoded === null) return null;
  return typeof encoded === 'string' ? Buffer.from(encoded, 'utf8') : Buffer.from(encoded.b64, 'base64');
}

const EXACT_SIZE_FROM = 16 * 1024;

/**
 * Bytes an encoded value adds to a JSON payload, never under the truth, so that batches stay
 * under Temporal's payload limit: small text at its worst case (a control character becomes
 * six bytes), large text measured exactly.
 */
export function encodedSize(encoded: EncodedBytes | null): number {
  if (encoded === null) return 4;
  if (typeof encoded !== 'string') return encoded.b64.length + 12;
  if (encoded.length < EXACT_SIZE_FROM) return encoded.length * 6 + 2;
  return Buffer.byteLength(JSON.stringify(encoded));
}
