/**
 * What the bridge writes in the metadata of each offset it commits, and the worker reads back.
 * Pure: workflow code may import it.
 *
 * - `t`: the partition's incarnation token. A topic deleted and made again, or a Kafka whose data
 *   was wiped, loses its committed offsets and so this token: batches cut before carry the old
 *   one, and the worker refuses to read the new topic's records for them.
 * - `w`: the workflow id of a batch the bridge is about to start (an intent): a bridge that takes
 *   the partition over resolves it (docs/design.md, "Intents").
 */
export interface CommitMetadata {
  token?: string;
  intent?: string;
}

export function formatCommitMetadata(metadata: CommitMetadata): string {
  return JSON.stringify({ v: 1, t: metadata.token, ...(metadata.intent ? { w: metadata.intent } : {}) });
}

/** What a commit's metadata says; nothing for metadata of other writers (an operator's reset). */
export function parseCommitMetadata(text: string | null | undefined): CommitMetadata {
  if (!text) return {};
  try {
    const parsed = JSON.parse(text) as { v?: unknown; t?: unknown; w?: unknown };
    if (parsed?.v !== 1) return {};
    return {
      token: typeof parsed.t === 'string' ? parsed.t : undefined,
      intent: typeof parsed.w === 'string' ? parsed.w : undefined,
    };
  } catch {
    return {};
  }
}
