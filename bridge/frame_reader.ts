/**
 * The gateway's raw frames (schemas/mail_access.ts `RAW_FRAMES_TYPE`: per message an 8-byte head,
 * UID and length, then the bytes) read from a response body as its chunks arrive. In-process the
 * gateway enqueues whole frames per chunk, so every message is a view of the chunk it came in
 * (no copy of the response into one buffer first, as `arrayBuffer()` made: a copy of every body
 * an IMAP FETCH or POP3 RETR sends). A frame cut across chunks (over a network) is joined once,
 * when its last byte has arrived.
 */

/** The messages by UID in the body's order; undefined when the body ends inside a frame. */
export async function readFrames(
  body: ReadableStream<Uint8Array> | null,
): Promise<Map<number, Uint8Array> | undefined> {
  const out = new Map<number, Uint8Array>();
  if (!body) return out;
  /** The start of a frame that continues in later chunks, and how long the frame is. */
  let partial: Uint8Array[] = [];
  let partialBytes = 0;
  let frameBytes = 0;
  for await (const chunk of body) {
    let buf = chunk;
    if (partialBytes > 0) {
      partial.push(chunk);
      partialBytes += chunk.byteLength;
      if (frameBytes === 0 && partialBytes >= 8) frameBytes = 8 + lengthOf(partial);
      if (frameBytes === 0 || partialBytes < frameBytes) continue;
      buf = join(partial, partialBytes);
      partial = [];
      partialBytes = frameBytes = 0;
    }
    const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
    let at = 0;
    while (at + 8 <= buf.byteLength) {
      const length = view.getUint32(at + 4);
      if (at + 8 + length > buf.byteLength) break;
      out.set(view.getUint32(at), buf.subarray(at + 8, at + 8 + length));
      at += 8 + length;
    }
    if (at < buf.byteLength) {
      partial = [buf.subarray(at)];
      partialBytes = buf.byteLength - at;
      frameBytes = partialBytes >= 8 ? 8 + view.getUint32(at + 4) : 0;
    }
  }
  return partialBytes > 0 ? undefined : out;
}

/** The length in the 8-byte head at the start of `parts` (at least 8 bytes in all). */
function lengthOf(parts: Uint8Array[]): number {
  return new DataView(join(parts, 8).buffer).getUint32(4);
}

/** The first `bytes` octets of `parts` as one buffer. */
function join(parts: Uint8Array[], bytes: number): Uint8Array {
  const out = new Uint8Array(bytes);
  let at = 0;
  for (const p of parts) {
    if (at >= bytes) break;
    const take = p.subarray(0, bytes - at);
    out.set(take, at);
    at += take.byteLength;
  }
  return out;
}
