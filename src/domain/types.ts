/**
 * The shapes that cross process boundaries: a batch handed from the bridge to Temporal, and the
 * records the pipeline writes (CONTRACT.md). Types only, so workflow code may import them.
 */

/** Where an input record came from. `offset` is a decimal string: Kafka offsets are 64-bit. */
export interface SourceRef {
  topic: string;
  partition: number;
  offset: string;
}

/** One input record as the worker reads it: its offset and its exact bytes. */
export interface BatchRecord {
  offset: string;
  key: Buffer | null;
  value: Buffer | null;
}

export const DEAD_LETTER_REASONS = ['invalid_json', 'not_an_object', 'missing_field', 'invalid_field', 'processing_error'] as const;
export type DeadLetterReason = (typeof DEAD_LETTER_REASONS)[number];

export interface Rejection {
  reason: DeadLetterReason;
  field?: string;
  /** One readable sentence. */
  error: string;
}

export interface ProcessedLogin {
  type: 'login';
  user_id: string;
  app_version: string;
  device_type: string;
  locale: string;
  ip: string | null;
  device_id: string | null;
  timestamp: number;
  login_at: string;
  missing_fields: string[];
  source: SourceRef;
  batch_id: string;
  processed_at: string;
  /**
   * Only on a login replayed from the dead-letter topic (`npm run dlq -- replay`): where it was
   * dead-lettered. Its `source` is still the input record's, and `batch_id` the replay's.
   */
  replayed_from?: SourceRef;
}

/** What a batch workflow reports, also shown in its search attributes. */
export interface BatchResult {
  batchId: string;
  records: number;
  logins: number;
  deadLetters: number;
  deadLettersByReason: Partial<Record<DeadLetterReason, number>>;
  /** Valid logins older than the aggregate retention: published, not aggregated. */
  late: number;
  /** Chunks an earlier attempt had published already: not published again. */
  chunksAlreadyPublished: number;
}

export interface SummaryVersionStats {
  logins: number;
  unique_users: number;
  unique_devices: number;
  device_types: Record<string, number>;
  locales: Record<string, number>;
}

/** CONTRACT.md "Output 3", without `type` (the query's JSON shape). */
export interface SummaryBody {
  window: { start: string; end: string; seconds: number };
  generated_at: string;
  totals: { logins: number; unique_users: number };
  app_versions: Record<string, SummaryVersionStats>;
}

export interface Summary extends SummaryBody {
  type: 'summary';
}
