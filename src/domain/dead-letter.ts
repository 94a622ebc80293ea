/**
 * The headers of a dead letter (CONTRACT.md), in one place for the worker's rejected records and
 * the bridge's records too large to hand to Temporal. Pure.
 */
import type { Rejection, SourceRef } from './types';

export function deadLetterHeaders(source: SourceRef, batchId: string, rejection: Rejection, failedAt: string): Record<string, string> {
  const headers: Record<string, string> = {
    'dlq.reason': rejection.reason,
    'dlq.error': rejection.error,
    'dlq.source.topic': source.topic,
    'dlq.source.partition': String(source.partition),
    'dlq.source.offset': source.offset,
    'dlq.batch_id': batchId,
    'dlq.failed_at': failedAt,
  };
  if (rejection.field !== undefined) headers['dlq.field'] = rejection.field;
  return headers;
}
