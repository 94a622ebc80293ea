/**
 * An async iterable, one item ahead: the next item is being produced while the caller works on
 * the current one. A batch reads its next chunk from Kafka while it publishes the one before, so
 * that a batch's time is its publishing, not its publishing plus its reading. Items come out in
 * the source's order, and the source is never asked for more than one item beyond the caller.
 */
export async function* readAhead<T>(source: AsyncIterable<T>): AsyncGenerator<T> {
  const iterator = source[Symbol.asyncIterator]();
  let next = iterator.next();
  try {
    for (;;) {
      const current = await next;
      if (current.done) return;
      next = iterator.next();
      // Its failure is the caller's when it asks for that item; until then it must not be unhandled.
      next.catch(() => undefined);
      yield current.value;
    }
  } finally {
    // The caller stopped early (its work failed): let the source finish once its pending read settles.
    void next.then(
      async (r) => {
        if (!r.done) await iterator.return?.();
      },
      () => undefined,
    ).catch(() => undefined);
  }
}
