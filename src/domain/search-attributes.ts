/**
 * The search attributes that make batches findable in the Temporal Web UI ("List" filters such
 * as `BatchTopic = "user-login" AND DeadLetterCount > 0`) and by the bridge, which lists the
 * failed batches of its group and topic to re-drive them. Registered by the worker when missing.
 */
import { defineSearchAttributeKey, SearchAttributeType } from '@temporalio/common';

export const BATCH_TOPIC = defineSearchAttributeKey('BatchTopic', SearchAttributeType.KEYWORD);
export const BATCH_GROUP = defineSearchAttributeKey('BatchGroup', SearchAttributeType.KEYWORD);
export const LOGIN_COUNT = defineSearchAttributeKey('LoginCount', SearchAttributeType.INT);
export const DEAD_LETTER_COUNT = defineSearchAttributeKey('DeadLetterCount', SearchAttributeType.INT);

/** Three Int and three Keyword attributes at most: the dev server's SQLite visibility allows no more. */
export const ALL_SEARCH_ATTRIBUTES = [BATCH_TOPIC, BATCH_GROUP, LOGIN_COUNT, DEAD_LETTER_COUNT];

/** A string literal of Temporal's list-filter language. */
export function quote(value: string): string {
  return `"${value.replace(/["\\]/g, '\\$&')}"`;
}
