// Hostile senders for `npm run bench:load`: connections that stream chunked bodies over the
// classify limit, one after another, while the normal load runs. Each must get a complete 413
// problem+json; the point of the phase is that the normal connections see no error meanwhile.

export interface OversizeResult {
  /** Oversize requests sent (each streamed to its end or until the edge answered). */
  readonly sent: number;
  /** Answered 413 with a problem+json body naming `body`. */
  readonly refused: number;
  /** Anything else: another status, a body that is not the problem, a socket error. */
  readonly other: number;
  /** The first few of those, for the report. */
  readonly samples: readonly string[];
}

function chunkedBody(bytes: number): ReadableStream<Uint8Array> {
  const chunk = new Uint8Array(64 * 1024).fill(0xff);
  let sent = 0;
  return new ReadableStream<Uint8Array>({
    pull(controller) {
      if (sent >= bytes) return controller.close();
      const part = chunk.subarray(0, Math.min(chunk.length, bytes - sent));
      sent += part.length;
      controller.enqueue(part);
    },
  });
}

/**
 * Runs `senders` loops, each streaming `bytes`-byte chunked bodies to `url` until `signal`
 * aborts; resolves with what they got.
 *
 * @example
 * const stop = new AbortController();
 * const hostile = runOversizeSenders({ url, senders: 8, bytes: 11 << 20, signal: stop.signal });
 */
export async function runOversizeSenders(opts: {
  readonly url: string;
  readonly senders: number;
  readonly bytes: number;
  readonly signal: AbortSignal;
}): Promise<OversizeResult> {
  let sent = 0;
  let refused = 0;
  const samples: string[] = [];
  const other = (what: string) => {
    if (samples.length < 5) samples.push(what);
  };
  let others = 0;
  const loop = async () => {
    while (!opts.signal.aborted) {
      sent++;
      try {
        const init: RequestInit & { duplex: 'half' } = {
          method: 'POST',
          headers: { 'content-type': 'image/jpeg' },
          body: chunkedBody(opts.bytes),
          duplex: 'half',
        };
        const res = await fetch(opts.url, init);
        const text = await res.text();
        const problem = JSON.parse(text) as { code?: string; field?: string };
        if (res.status === 413 && problem.code === 'body_too_large' && problem.field === 'body')
          refused++;
        else {
          others++;
          other(`${res.status} ${text.slice(0, 200)}`);
        }
      } catch (err) {
        others++;
        other(err instanceof Error ? `${err.message} (${String(err.cause)})` : String(err));
      }
    }
  };
  await Promise.all(Array.from({ length: opts.senders }, loop));
  return { sent, refused, other: others, samples };
}
