/**
 * The search attributes that make batches findable in the Temporal Web UI ("List" filters such
 * as `BatchPartition = 0 AND DeadLetterCount > 0`). Registered by the worker when missing.
 */
import { defineSearchAttributeKey, SearchAttributeType } from '@temporalio/common';

export const BATCH_TOPIC = defineSearchAttributeKey('BatchTopic', SearchAttributeType.KEYWORD);
export const BATCH_PARTITION = defineSearchAttributeKey('BatchPartition', SearchAttributeType.INT);
export const LOGIN_COUNT = defineSearchAttributeKey('LoginCount', SearchAttributeType.INT);
export const DEAD_LETTER_COUNT = defineSearchAttributeKey('DeadLetterCount', SearchAttributeType.INT);

/** Three Int attributes at most: the dev server's SQLite visibility allows no more. Offsets are in the memo. */
export const ALL_SEARCH_ATTRIBUTES = [BATCH_TOPIC, BATCH_PARTITION, LOGIN_COUNT, DEAD_LETTER_COUNT];
