// The one sleep. With a signal, it ends early (resolves, never rejects) when
// the signal aborts: a loop that sleeps between polls then sees the abort on
// its next check rather than an exception in the middle of its work.
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise<void>((resolve) => {
    if (signal?.aborted) return resolve();
    const onAbort = () => (clearTimeout(t), resolve());
    const t = setTimeout(() => (signal?.removeEventListener('abort', onAbort), resolve()), ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}
