/**
 * Cutting one partition's fetched messages into batches: at most BATCH_MAX_RECORDS records and
 * BATCH_MAX_BYTES of payload each, in offset order. Pure.
 */
import { encodeBytes, encodedSize } from '../domain/bytes';
import type { BatchRecord } from '../domain/types';

export interface FetchedMessage {
  offset: string;
  key: Buffer | null;
  value: Buffer | null;
}

export interface EncodedMessage {
  record: BatchRecord;
  size: number;
}

/**
 * Temporal refuses payloads over 2 MB. A record that cannot fit a batch on its own even at that
 * limit is dead-lettered by the bridge itself rather than lost or retried forever.
 */
export const HARD_PAYLOAD_LIMIT = 1_900_000;
const RECORD_OVERHEAD = 48;

export function encodeMessage(message: FetchedMessage): EncodedMessage {
  const key = encodeBytes(message.key);
  const value = encodeBytes(message.value);
  const size = encodedSize(message.key, key) + encodedSize(message.value, value) + message.offset.length + RECORD_OVERHEAD;
  return { record: { offset: message.offset, key, value }, size };
}

export function isOversized(message: EncodedMessage): boolean {
  return message.size > HARD_PAYLOAD_LIMIT;
}

/** The longest prefix of `messages` that fits one batch (always at least one message). */
export function takeChunk(messages: readonly EncodedMessage[], maxRecords: number, maxBytes: number): EncodedMessage[] {
  let bytes = 0;
  let n = 0;
  while (n < messages.length && n < maxRecords) {
    const size = messages[n]!.size;
    if (n > 0 && bytes + size > maxBytes) break;
    bytes += size;
    n++;
  }
  return messages.slice(0, n);
}
