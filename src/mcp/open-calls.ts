// The tool calls of the MCP Streamable HTTP transport whose POST connection is still open, by
// session and JSON-RPC request id: dropping the connection before its response is complete
// aborts the calls it waited for (their sandboxes are killed), rather than leaving them running.

/** The ids of the JSON-RPC requests in a POST body (one message or a batch). */
function requestIds(body: unknown): (string | number)[] {
  const messages = Array.isArray(body) ? body : [body];
  const ids: (string | number)[] = [];
  for (const m of messages) {
    if (m === null || typeof m !== 'object') continue;
    const { id, method } = m as { id?: unknown; method?: unknown };
    if (typeof method === 'string' && (typeof id === 'string' || typeof id === 'number')) ids.push(id);
  }
  return ids;
}

function callKey(sessionId: string | undefined, requestId: string | number): string {
  return `${sessionId ?? ''}\u0000${typeof requestId}:${String(requestId)}`;
}

export class OpenCalls {
  private readonly calls = new Map<string, AbortController>();

  /** The signal that aborts a call when its connection is dropped (run_code's callSignal). */
  signal(sessionId: string | undefined, requestId: string | number): AbortSignal | undefined {
    return this.calls.get(callKey(sessionId, requestId))?.signal;
  }

  /** Registers the requests of a POST body; returns their keys for `release`. */
  track(sessionId: string | undefined, body: unknown): string[] {
    const keys: string[] = [];
    for (const id of requestIds(body)) {
      const key = callKey(sessionId, id);
      this.calls.set(key, new AbortController());
      keys.push(key);
    }
    return keys;
  }

  /** The POST's connection closed: aborts its calls unless the response was complete, and
   *  forgets them. */
  release(keys: readonly string[], responseComplete: boolean): void {
    for (const key of keys) {
      if (!responseComplete) this.calls.get(key)?.abort();
      this.calls.delete(key);
    }
  }

  abortAll(): void {
    for (const c of this.calls.values()) c.abort();
  }
}
