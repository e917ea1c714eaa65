// Server-sent events from a fetch body: `event:`/`data:` fields, blank-line separated, comments
// skipped (the stream GET /v1/fine-tunes/{id}/events sends).

/** One event of the stream. */
export interface SseEvent {
  readonly event: string;
  readonly data: string;
  readonly id?: string | undefined;
}

function parseBlock(block: string): SseEvent | undefined {
  let event = 'message';
  let id: string | undefined;
  const data: string[] = [];
  for (const line of block.split('\n')) {
    if (line === '' || line.startsWith(':')) continue;
    const colon = line.indexOf(':');
    const field = colon === -1 ? line : line.slice(0, colon);
    const value = colon === -1 ? '' : line.slice(colon + 1).replace(/^ /, '');
    if (field === 'event') event = value;
    else if (field === 'data') data.push(value);
    else if (field === 'id') id = value;
  }
  return data.length === 0 ? undefined : { event, data: data.join('\n'), id };
}

/**
 * The events of an SSE byte stream, as they arrive.
 *
 * @example
 * for await (const e of sseEvents(res.body!)) if (e.event === 'job') console.log(JSON.parse(e.data));
 */
export async function* sseEvents(body: ReadableStream<Uint8Array>): AsyncGenerator<SseEvent> {
  const decoder = new TextDecoder();
  let buffer = '';
  const reader = body.getReader();
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      buffer += decoder.decode(value, { stream: true }).replace(/\r\n?/g, '\n');
      for (let end = buffer.indexOf('\n\n'); end !== -1; end = buffer.indexOf('\n\n')) {
        const event = parseBlock(buffer.slice(0, end));
        buffer = buffer.slice(end + 2);
        if (event) yield event;
      }
    }
  } finally {
    // The consumer may stop early (a final status): close the connection.
    await reader.cancel().catch(() => undefined);
  }
  const last = parseBlock(buffer + decoder.decode());
  if (last) yield last;
}
