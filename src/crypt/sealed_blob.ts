/**
 * How a blob (a raw message, an upload, a draft's request) is laid out sealed: the parts of
 * services/blob_chunks.ts, each one sealed part (sealed_part.ts) bound to `blob <sha256>/<seq>`,
 * and in an object store (R2) a row of sealed segments of SEGMENT_BYTES each, so that a read
 * from an offset (an IMAP partial fetch, a stream resumed after the row's octets) opens only the
 * segments it needs: one AES-GCM call per part or segment, never one per message byte range.
 *
 * Parts are cut so that a sealed blob's rows obey the rule the unsealed ones do: a row whose
 * data is shorter than the blob's size has further chunks (`length(data) < size`, which the
 * chunk inserts check in SQL). Each part holds at most PART_BYTES of plaintext, so with its 40
 * bytes of seal it still fits BLOB_CHUNK_BYTES; when a blob has more than one part, the first is
 * cut short enough that its sealed length stays below the blob's size.
 */
import type { Queryable } from "../store/store.ts";
import { vaultOf } from "../store/store.ts";
import { AppError } from "../errors.ts";
import {
  type DataKey,
  isSealed,
  openPart,
  openPartNow,
  SEAL_OVERHEAD,
  sealedKeyId,
  sealPart,
} from "./sealed_part.ts";

/**
 * Plaintext bytes per sealed part: services/blob_chunks.ts's BLOB_CHUNK_BYTES (1 MiB, not
 * imported: that module imports this one) less room for the seal.
 */
export const PART_BYTES = 1024 * 1024 - 64;
/** Plaintext bytes per sealed segment of an object. */
export const SEGMENT_BYTES = 256 * 1024;
const SEGMENT_SEALED = SEGMENT_BYTES + SEAL_OVERHEAD;

/** The plaintext ranges of a sealed blob's parts: `[start, end)` each. */
export function sealedRanges(size: number): [number, number][] {
  if (size <= PART_BYTES) return [[0, size]];
  const first = Math.min(PART_BYTES, size - SEAL_OVERHEAD - 1);
  const out: [number, number][] = [[0, first]];
  for (let at = first; at < size; at += PART_BYTES) out.push([at, Math.min(size, at + PART_BYTES)]);
  return out;
}

const place = (sha256: string, seq: number | string) => `blob ${sha256}/${seq}`;

/** `raw`'s parts sealed under `key`: the row's data first, then its chunks by sequence. */
export async function sealBlobParts(key: DataKey, raw: Uint8Array, sha256: string) {
  return await Promise.all(
    sealedRanges(raw.byteLength).map(([from, to], seq) =>
      sealPart(key, raw.subarray(from, to), place(sha256, seq))
    ),
  );
}

/** Part `seq` of a blob as plaintext (itself when it was stored unsealed). */
export async function openBlobPart(db: Queryable, sha256: string, seq: number, bytes: Uint8Array) {
  return await openPart(vaultOf(db)?.lookup, bytes, place(sha256, seq));
}

/**
 * `openBlobPart` with no promise when the part opens on this thread (sealed_part.ts
 * `openPartNow`): the IMAP and POP3 body readers, a page of messages at a time.
 */
export function openBlobPartNow(db: Queryable, sha256: string, seq: number, bytes: Uint8Array) {
  return openPartNow(vaultOf(db)?.lookup, bytes, place(sha256, seq));
}

/** Seals a blob's whole content as the segments of one object. */
export async function sealObject(key: DataKey, raw: Uint8Array, sha256: string) {
  const count = Math.ceil(raw.byteLength / SEGMENT_BYTES);
  const out = new Uint8Array(raw.byteLength + count * SEAL_OVERHEAD);
  for (let i = 0; i < count; i++) {
    const part = raw.subarray(i * SEGMENT_BYTES, (i + 1) * SEGMENT_BYTES);
    out.set(await sealPart(key, part, place(sha256, `o${i}`)), i * SEGMENT_SEALED);
  }
  return out;
}

/** Opens a whole sealed object (as `sealObject` wrote it) into one buffer of `size` bytes. */
export async function openObject(db: Queryable, sha256: string, whole: Uint8Array, size: number) {
  if (!isSealed(whole)) return whole;
  const out = new Uint8Array(size);
  for (let i = 0, at = 0; at < whole.byteLength; i++, at += SEGMENT_SEALED) {
    const segment = whole.subarray(at, at + SEGMENT_SEALED);
    const plain = await openPart(vaultOf(db)?.lookup, segment, place(sha256, `o${i}`));
    if (i * SEGMENT_BYTES + plain.byteLength > size) break;
    out.set(plain, i * SEGMENT_BYTES);
  }
  return out;
}

/**
 * A sealed object (as `sealObject` wrote it) as the sealed parts of a store without an object
 * store (`sealBlobParts`: the row's data, then its chunks), sealed again under the data key the
 * object names: a restore of a Worker's backup into a file (backup/restore.ts). The plaintext
 * exists only in memory, as when the blob is read.
 */
export async function objectAsParts(
  db: Queryable,
  sha256: string,
  sealed: Uint8Array,
  size: number,
) {
  const keys = vaultOf(db);
  if (!keys) {
    throw new AppError(500, "internal", `blob ${sha256} is sealed: no key vault to open it`);
  }
  const plain = await openObject(db, sha256, sealed, size);
  return await sealBlobParts(await keys.keyById(sealedKeyId(sealed)), plain, sha256);
}

/**
 * The plaintext of a sealed object from `from` to its end, as a stream that opens one segment per
 * pull: `read(offset)` is the object store's ranged read, asked from the segment `from` falls in.
 */
export function openObjectStream(
  db: Queryable,
  sha256: string,
  from: number,
  read: (offset: number) => Promise<ReadableStream<Uint8Array> | undefined>,
): ReadableStream<Uint8Array> {
  let index = Math.floor(from / SEGMENT_BYTES);
  let skip = from - index * SEGMENT_BYTES;
  let reader: ReadableStreamDefaultReader<Uint8Array> | undefined;
  let pending = new Uint8Array(0);
  let done = false;
  /** The next `SEGMENT_SEALED` bytes (fewer at the end), gathered from the ranged read. */
  const nextSegment = async (): Promise<Uint8Array | undefined> => {
    while (!done && pending.byteLength < SEGMENT_SEALED) {
      const next = await reader!.read();
      if (next.done) done = true;
      else {
        const joined = new Uint8Array(pending.byteLength + next.value.byteLength);
        joined.set(pending);
        joined.set(next.value, pending.byteLength);
        pending = joined;
      }
    }
    if (pending.byteLength === 0) return undefined;
    const segment = pending.subarray(0, SEGMENT_SEALED);
    pending = pending.subarray(segment.byteLength);
    return segment;
  };
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      if (!reader) {
        const stream = await read(index * SEGMENT_SEALED);
        if (!stream) {
          controller.error(new AppError(500, "internal", `blob ${sha256}: its object is missing`));
          return;
        }
        reader = stream.getReader();
      }
      const segment = await nextSegment();
      if (!segment) {
        controller.close();
        return;
      }
      const plain = await openPart(vaultOf(db)?.lookup, segment, place(sha256, `o${index++}`));
      const part = plain.subarray(skip);
      skip = 0;
      if (part.byteLength > 0) controller.enqueue(part);
    },
    async cancel(reason) {
      await reader?.cancel(reason).catch(() => {});
    },
  }, { highWaterMark: 0 });
}
