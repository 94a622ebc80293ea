/**
 * The delivery guarantee as a check: every input offset once in OUTPUT_TOPIC (as a login) or in
 * DLQ_TOPIC, never neither; duplicates counted, and allowed only with the same source.
 */
import type { ReadMessage } from './kafka';

export interface Accounting {
  inputs: number;
  logins: number;
  deadLetters: number;
  /** Input offsets that came out as a login (once or more): what Redis must count. */
  distinctLogins: number;
  lost: string[];
  duplicates: number;
  /** An offset found both as a login and as a dead letter: never allowed. */
  conflicting: string[];
}

export function sourceOf(message: ReadMessage): { key: string; kind: 'login' | 'dead_letter' } | undefined {
  if (message.headers['dlq.source.offset'] !== undefined) {
    return { key: `${message.headers['dlq.source.topic']}:${message.headers['dlq.source.partition']}:${message.headers['dlq.source.offset']}`, kind: 'dead_letter' };
  }
  if (message.headers.type !== 'login' || !message.value) return undefined;
  const { source } = JSON.parse(message.value.toString('utf8')) as { source: { topic: string; partition: number; offset: string } };
  return { key: `${source.topic}:${source.partition}:${source.offset}`, kind: 'login' };
}

export function account(inputTopic: string, partitionSizes: number[], outputs: ReadMessage[]): Accounting {
  const seen = new Map<string, { login: number; deadLetter: number }>();
  let logins = 0;
  let deadLetters = 0;
  for (const message of outputs) {
    const source = sourceOf(message);
    if (!source) continue;
    const entry = seen.get(source.key) ?? { login: 0, deadLetter: 0 };
    if (source.kind === 'login') {
      entry.login++;
      logins++;
    } else {
      entry.deadLetter++;
      deadLetters++;
    }
    seen.set(source.key, entry);
  }
  const lost: string[] = [];
  const conflicting: string[] = [];
  let duplicates = 0;
  let inputs = 0;
  let distinctLogins = 0;
  partitionSizes.forEach((size, partition) => {
    for (let offset = 0; offset < size; offset++) {
      inputs++;
      const key = `${inputTopic}:${partition}:${offset}`;
      const entry = seen.get(key);
      if (!entry) lost.push(key);
      else {
        if (entry.login > 0 && entry.deadLetter > 0) conflicting.push(key);
        if (entry.login > 0) distinctLogins++;
        duplicates += entry.login + entry.deadLetter - 1;
      }
    }
  });
  return { inputs, logins, deadLetters, distinctLogins, lost, duplicates, conflicting };
}

export function formatAccounting(a: Accounting): string {
  return `inputs ${a.inputs}, logins ${a.logins}, dead letters ${a.deadLetters}, lost ${a.lost.length}${a.lost.length ? ` (first: ${a.lost.slice(0, 5).join(', ')})` : ''}, duplicates ${a.duplicates}, conflicting ${a.conflicting.length}`;
}
