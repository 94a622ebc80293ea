/**
 * Cutting one partition's fetched messages into batches: at most BATCH_MAX_RECORDS records and
 * BATCH_MAX_BYTES of payload each, in offset order. Pure.
 */
import { framedSize } from '../domain/blob';
import type { BatchRecord } from '../domain/types';

export interface FetchedMessage {
  offset: string;
  key: Buffer | null;
  value: Buffer | null;
}

export interface SizedRecord {
  record: BatchRecord;
  /** Bytes in the batch's records blob, before compression. */
  size: number;
}

/**
 * Temporal refuses payloads over 2 MB. A record that cannot fit a batch on its own even at that
 * limit (uncompressed: random bytes do not compress) is dead-lettered by the bridge itself
 * rather than lost or retried forever.
 */
export const HARD_PAYLOAD_LIMIT = 1_900_000;
export function sized(message: FetchedMessage): SizedRecord {
  const { offset, key, value } = message;
  return { record: { offset, key, value }, size: framedSize(offset, key, value) };
}

export function isOversized(message: SizedRecord): boolean {
  return message.size > HARD_PAYLOAD_LIMIT;
}

/** The longest prefix of `messages` that fits one batch (always at least one message). */
export function takeChunk(messages: readonly SizedRecord[], maxRecords: number, maxBytes: number): SizedRecord[] {
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
