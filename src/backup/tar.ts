/**
 * A pure ustar (POSIX.1-1988 tar) codec for backup files: a writer that frames one entry at a
 * time (a 512-octet header, the content, zero padding to the next 512 octets, and two zero
 * blocks at the end) and a streaming reader that yields entries as they arrive. Only regular
 * files are written and read; names stay under the 100 octets of the plain header field, so
 * any `tar` lists and extracts a Postern backup (`tar tvf backup.tar`).
 *
 * Why tar: one file is the friendliest thing to copy off a host, and a reader needs no index
 * (the manifest, written last, carries every part's digest). The header's own checksum is
 * checked on read, so a truncated or shifted file fails at the header it broke, by name.
 */

const BLOCK = 512;
const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** The framing of one regular file: its header block. */
export function tarHeader(name: string, size: number, mtimeSeconds: number): Uint8Array {
  const nameBytes = encoder.encode(name);
  if (nameBytes.byteLength > 100) throw new Error(`tar entry name too long: ${name}`);
  const h = new Uint8Array(BLOCK);
  const put = (offset: number, text: string) => h.set(encoder.encode(text), offset);
  const octal = (offset: number, width: number, value: number) =>
    put(offset, value.toString(8).padStart(width - 1, "0") + "\0");
  h.set(nameBytes, 0);
  octal(100, 8, 0o600); // mode
  octal(108, 8, 0); // uid
  octal(116, 8, 0); // gid
  if (size >= 8 ** 11) throw new Error(`tar entry too large: ${name}`);
  octal(124, 12, size);
  octal(136, 12, Math.floor(mtimeSeconds));
  put(148, "        "); // checksum field counts as spaces while summing
  h[156] = 0x30; // '0': regular file
  put(257, "ustar\0");
  put(263, "00");
  let sum = 0;
  for (const b of h) sum += b;
  put(148, sum.toString(8).padStart(6, "0") + "\0 ");
  return h;
}

/** The zero padding after `size` octets of content. */
export const tarPadding = (size: number): Uint8Array =>
  new Uint8Array((BLOCK - (size % BLOCK)) % BLOCK);

/** The end of an archive: two zero blocks. */
export const TAR_END = new Uint8Array(BLOCK * 2);

export interface TarEntry {
  name: string;
  size: number;
  data: Uint8Array;
}

/** A reader's refusal: what broke, at which entry. */
export class TarError extends Error {}

function parseOctal(bytes: Uint8Array): number {
  const text = decoder.decode(bytes).replace(/\0.*$/s, "").trim();
  if (!/^[0-7]*$/.test(text)) return NaN;
  return text === "" ? 0 : parseInt(text, 8);
}

/**
 * The entries of a tar stream, each whole in memory (a backup's parts are bounded by the writer;
 * see dump.ts). Ends at the two zero blocks; a stream that ends before them, mid-entry or with a
 * header whose checksum is wrong, fails with a TarError naming the entry.
 */
export async function* readTar(stream: ReadableStream<Uint8Array>): AsyncGenerator<TarEntry> {
  const reader = stream.getReader();
  // Chunks as they came, joined only when an entry is taken: growing one buffer per chunk
  // would copy a 25 MB part hundreds of times.
  const chunks: Uint8Array[] = [];
  let held = 0;
  let done = false;
  const fill = async (n: number): Promise<boolean> => {
    while (held < n && !done) {
      const r = await reader.read();
      if (r.done) {
        done = true;
        break;
      }
      chunks.push(r.value);
      held += r.value.byteLength;
    }
    return held >= n;
  };
  const take = (n: number): Uint8Array => {
    const out = new Uint8Array(n);
    let at = 0;
    while (at < n) {
      const c = chunks[0];
      const used = Math.min(c.byteLength, n - at);
      out.set(c.subarray(0, used), at);
      at += used;
      if (used === c.byteLength) chunks.shift();
      else chunks[0] = c.subarray(used);
    }
    held -= n;
    return out;
  };
  let last = "(the start)";
  try {
    while (true) {
      if (!await fill(BLOCK)) {
        throw new TarError(`the file ends without the end-of-archive blocks, after ${last}`);
      }
      const header = take(BLOCK);
      if (header.every((b) => b === 0)) return;
      const name = decoder.decode(header.subarray(0, 100)).replace(/\0.*$/s, "");
      const size = parseOctal(header.subarray(124, 136));
      const stated = parseOctal(header.subarray(148, 156));
      let sum = 0;
      for (let i = 0; i < BLOCK; i++) sum += i >= 148 && i < 156 ? 0x20 : header[i];
      if (!Number.isFinite(size) || sum !== stated) {
        throw new TarError(`a damaged tar header after ${last}`);
      }
      const padded = size + (BLOCK - (size % BLOCK)) % BLOCK;
      if (!await fill(padded)) throw new TarError(`the file is truncated inside ${name}`);
      const data = take(size);
      take(padded - size);
      last = name;
      if (header[156] === 0x30 || header[156] === 0) yield { name, size, data };
    }
  } finally {
    reader.releaseLock();
  }
}
