// Linking AbortSignals: an inner controller that aborts when an outer signal does (with its
// reason), for the layers that add a cancellation reason of their own (the gate's close grace
// period, a stream's consumer breaking out). One place instead of a hand-written listener each.

/** Aborts `inner` when `outer` aborts (at once if it already has). Returns the function that
 *  removes the link; call it when the work is over so that a long-lived outer signal does not
 *  keep every finished execution's controller alive. */
export function linkAbort(outer: AbortSignal | undefined, inner: AbortController): () => void {
  if (outer === undefined) return () => {};
  if (outer.aborted) {
    inner.abort(outer.reason);
    return () => {};
  }
  const forward = (): void => inner.abort(outer.reason);
  outer.addEventListener('abort', forward, { once: true });
  return () => outer.removeEventListener('abort', forward);
}
