/**
 * Opens the files reports arrive as: gzip (RFC 1952; what RFC 7489 section 7.2.1.1 and RFC 8460
 * section 5.3 ask for), zip (which many DMARC reporters still send; the first entry) or plain
 * text. Everything is decompressed with Web streams under a cap on the output, so a
 * decompression bomb stops at the cap rather than filling memory. Results, not exceptions.
 */

export type Opened = { ok: true; bytes: Uint8Array } | { ok: false; error: string };

/** Largest report accepted once decompressed (a big receiver's daily report is a few MB). */
export const MAX_REPORT_BYTES = 8 * 1024 * 1024;

async function inflate(
  data: Uint8Array,
  format: "gzip" | "deflate-raw",
  cap: number,
): Promise<Opened> {
  const stream = new Blob([data as BlobPart]).stream().pipeThrough(new DecompressionStream(format));
  const reader = stream.getReader();
  const parts: Uint8Array[] = [];
  let size = 0;
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      size += value.byteLength;
      if (size > cap) {
        await reader.cancel().catch(() => {});
        return { ok: false, error: `the report is larger than ${cap} bytes once decompressed` };
      }
      parts.push(value);
    }
  } catch (e) {
    return { ok: false, error: `cannot decompress: ${(e as Error)?.message ?? e}` };
  }
  const out = new Uint8Array(size);
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.byteLength;
  }
  return { ok: true, bytes: out };
}

/** The first file of a zip archive (stored or deflated), found through its central directory. */
async function unzip(data: Uint8Array, cap: number): Promise<Opened> {
  const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  // End of central directory: 22 octets plus a comment of up to 65535.
  let eocd = -1;
  for (let i = data.byteLength - 22; i >= Math.max(0, data.byteLength - 65557); i--) {
    if (view.getUint32(i, true) === 0x06054b50) {
      eocd = i;
      break;
    }
  }
  if (eocd < 0) return { ok: false, error: "not a zip archive (no central directory)" };
  const cd = view.getUint32(eocd + 16, true);
  if (cd + 46 > data.byteLength || view.getUint32(cd, true) !== 0x02014b50) {
    return { ok: false, error: "a broken zip central directory" };
  }
  const flags = view.getUint16(cd + 8, true);
  const method = view.getUint16(cd + 10, true);
  const size = view.getUint32(cd + 20, true);
  const local = view.getUint32(cd + 42, true);
  if (flags & 1) return { ok: false, error: "an encrypted zip entry" };
  if (local + 30 > data.byteLength || view.getUint32(local, true) !== 0x04034b50) {
    return { ok: false, error: "a broken zip entry" };
  }
  const start = local + 30 + view.getUint16(local + 26, true) + view.getUint16(local + 28, true);
  if (start + size > data.byteLength) return { ok: false, error: "a truncated zip entry" };
  const body = data.subarray(start, start + size);
  if (method === 0) {
    return size > cap ? { ok: false, error: "the report is too large" } : { ok: true, bytes: body };
  }
  if (method !== 8) return { ok: false, error: `zip compression method ${method} not supported` };
  return await inflate(body, "deflate-raw", cap);
}

/** The report file's content, whatever of gzip, zip or plain it came as (told by its magic). */
export async function openReport(data: Uint8Array, cap = MAX_REPORT_BYTES): Promise<Opened> {
  if (data[0] === 0x1f && data[1] === 0x8b) return await inflate(data, "gzip", cap);
  if (data[0] === 0x50 && data[1] === 0x4b) return await unzip(data, cap);
  return data.byteLength > cap
    ? { ok: false, error: "the report is too large" }
    : { ok: true, bytes: data };
}

/** gzip of `bytes` (CompressionStream). */
export async function gzip(bytes: Uint8Array): Promise<Uint8Array> {
  const stream = new Blob([bytes as BlobPart]).stream().pipeThrough(new CompressionStream("gzip"));
  return new Uint8Array(await new Response(stream).arrayBuffer());
}
