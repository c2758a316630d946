/** Read a Server-Sent Events response into {event, data} records (until the stream ends or `until` says stop). */
export interface SseEvent {
  event: string;
  id: string | undefined;
  data: Record<string, unknown>;
}

export async function readSse(res: Response, onEvent: (e: SseEvent) => void | Promise<void> = () => {}): Promise<SseEvent[]> {
  const events: SseEvent[] = [];
  const reader = res.body!.pipeThrough(new TextDecoderStream()).getReader();
  let buf = '';
  for (;;) {
    const {done, value} = await reader.read();
    if (done) break;
    buf += value;
    let at: number;
    while ((at = buf.indexOf('\n\n')) >= 0) {
      const block = buf.slice(0, at);
      buf = buf.slice(at + 2);
      let event = 'message';
      let id: string | undefined;
      const data: string[] = [];
      for (const line of block.split('\n')) {
        if (line.startsWith('event:')) event = line.slice(6).trim();
        else if (line.startsWith('id:')) id = line.slice(3).trim();
        else if (line.startsWith('data:')) data.push(line.slice(5).replace(/^ /, ''));
      }
      if (data.length === 0) continue;
      const e = {event, id, data: JSON.parse(data.join('\n')) as Record<string, unknown>};
      events.push(e);
      await onEvent(e);
    }
  }
  return events;
}
