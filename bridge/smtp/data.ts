/**
 * Incremental readers for message content. `DataReader` follows RFC 5321 section 4.1.1.4 (the
 * content ends with CRLF "." CRLF) and section 4.5.2 (a leading "." on a line is removed), and
 * rejects SMTP smuggling: only a CRLF pair starts a line, so `\n.\n`, `\r.\r`, `\n.\r\n` and
 * `\r\n.\n` are never an end of data, and any bare CR or LF (RFC 5321 section 2.3.8) flags the
 * message for rejection after the real end (the rule of Postfix's smtpd_forbid_bare_newline).
 * `BdatReader` accumulates RFC 3030 chunks. Both stop storing at the size limit but keep reading
 * to the end, so the stream stays in sync. Pure: no I/O.
 */

/**
 * A byte buffer that never stores more than `max` octets. It grows by blocks, each as large as
 * what is stored so far (8 KiB first, 1 MiB at most), with no copies while it grows, and is joined
 * into one exact-size array once, at the end: a 25 MB message costs 25 MB, not the 16 + 32 MB of
 * a doubling buffer plus a final copy, and a 5 KB message one 8 KiB block, not a zeroed 1 MiB one.
 */
class BoundedBuffer {
  static readonly FIRST_BLOCK = 8 * 1024;
  static readonly BLOCK = 1024 * 1024;
  #blocks: Uint8Array[] = [];
  /** Octets stored in the last block. */
  #fill = 0;
  /** Octets offered, including those beyond the limit that were not stored. */
  size = 0;
  constructor(public max: number) {}
  #room(): Uint8Array {
    let last = this.#blocks[this.#blocks.length - 1];
    if (!last || this.#fill === last.length) {
      const stored = Math.min(this.size, this.max);
      const next = Math.min(BoundedBuffer.BLOCK, Math.max(BoundedBuffer.FIRST_BLOCK, stored));
      last = new Uint8Array(Math.min(next, Math.max(1, this.max - stored)));
      this.#blocks.push(last);
      this.#fill = 0;
    }
    return last;
  }
  push(b: number): void {
    if (this.size < this.max) this.#room()[this.#fill++] = b;
    this.size++;
  }
  append(bytes: Uint8Array): void {
    let room = Math.max(0, Math.min(bytes.length, this.max - this.size));
    let at = 0;
    while (room > 0) {
      const block = this.#room();
      const n = Math.min(room, block.length - this.#fill);
      block.set(bytes.subarray(at, at + n), this.#fill);
      this.#fill += n;
      at += n;
      room -= n;
    }
    this.size += bytes.length;
  }
  get overflowed(): boolean {
    return this.size > this.max;
  }
  /** Stops storing and frees what was stored; `size` keeps counting. */
  drop(): void {
    this.#blocks = [];
    this.#fill = 0;
    this.max = 0;
  }
  /** The stored octets in one array (joined once; the blocks are let go), for the end. */
  bytes(): Uint8Array {
    if (this.#blocks.length === 1 && this.#fill === this.#blocks[0].length) return this.#blocks[0];
    const stored = Math.min(this.size, this.max);
    const out = new Uint8Array(stored);
    let at = 0;
    for (const block of this.#blocks) {
      const n = Math.min(block.length, stored - at);
      out.set(n === block.length ? block : block.subarray(0, n), at);
      at += n;
    }
    this.#blocks = [out];
    this.#fill = out.length;
    return out;
  }
}

const CR = 13;
const LF = 10;
const PERIOD = 46;

// Reader states. Only a CRLF pair leads to LINE_START, which is what defeats smuggling.
const LINE_START = 0; // after CRLF (or at the very start): a "." here is special
const MID = 1; // inside a line
const AFTER_CR = 2; // the previous octet was a CR
const DOT = 3; // a "." at the start of a line, not yet emitted
const DOT_CR = 4; // "." CR at the start of a line: one LF away from the end
const END = 5;

/**
 * Where the run of clean lines from `at` (inside a line) ends: each line's first CR is followed by
 * its first LF (no bare CR or LF), and the run stops before a line that starts with ".", CR or LF,
 * which the state machine reads. `at` when the first line is not clean or not complete.
 */
function cleanLinesEnd(chunk: Uint8Array, at: number): number {
  let end = at;
  for (;;) {
    // Both searches are the runtime's (memchr), not a loop over every octet here.
    const lf = chunk.indexOf(LF, end);
    if (lf <= end || chunk.indexOf(CR, end) !== lf - 1) return end;
    end = lf + 1;
    const next = chunk[end];
    if (next === undefined || next === PERIOD || next === CR || next === LF) return end;
  }
}

/** Reads DATA content: feed chunks until `done`; bytes after the end belong to the commands. */
export class DataReader {
  #out: BoundedBuffer;
  #state = LINE_START;
  #bare = false;
  constructor(maxBytes: number) {
    this.#out = new BoundedBuffer(maxBytes);
  }

  /** Consumes octets up to and including the end-of-data line; returns how many it consumed. */
  feed(chunk: Uint8Array): number {
    if (this.#state === END) return 0;
    const out = this.#out;
    let state = this.#state;
    for (let i = 0; i < chunk.length; i++) {
      if (state === MID) {
        // The common case: whole lines that end in CRLF, with no bare CR or LF in them and no "."
        // at the start of the next, copied as one run (one view, not one per line).
        const end = cleanLinesEnd(chunk, i);
        if (end > i) {
          out.append(chunk.subarray(i, end));
          state = LINE_START;
          if (end === chunk.length) break;
          i = end - 1;
          continue;
        }
        // The rest of a line. Copy the run up to the next CR or LF at once.
        let j = i;
        while (j < chunk.length && chunk[j] !== CR && chunk[j] !== LF) j++;
        if (j + 1 < chunk.length && chunk[j] === CR && chunk[j + 1] === LF) {
          // Ended by CRLF within this chunk: the run and its line ending in one copy.
          out.append(chunk.subarray(i, j + 2));
          i = j + 1;
          state = LINE_START;
          continue;
        }
        if (j > i) {
          out.append(chunk.subarray(i, j));
          if (j === chunk.length) break;
          i = j;
        }
      }
      const b = chunk[i];
      switch (state) {
        case LINE_START:
          if (b === PERIOD) {
            state = DOT;
            continue;
          }
          if (b !== CR && b !== LF) {
            // An ordinary first octet: read it with the rest of its line, in state MID.
            state = MID;
            i--;
            continue;
          }
          break;
        case DOT:
          if (b === CR) {
            state = DOT_CR;
            continue;
          }
          // RFC 5321 section 4.5.2: the first "." of a line with more on it is deleted.
          state = MID;
          break;
        case DOT_CR:
          if (b === LF) {
            // RFC 5321 section 4.1.1.4: CRLF "." CRLF ends the content.
            this.#state = END;
            return i + 1;
          }
          // "." CR x: the dot was stuffing; the CR is bare (and not an end of data).
          out.push(CR);
          state = AFTER_CR;
          break;
      }
      // Ordinary octet handling in states Mid, Cr and LineStart.
      if (state === AFTER_CR) {
        if (b === LF) {
          out.push(LF);
          state = LINE_START;
          continue;
        }
        this.#bare = true; // a CR not followed by LF
        state = MID;
      }
      if (b === CR) state = AFTER_CR;
      else {
        // A bare LF does not start a line, so "\n.\r\n" can never end the data.
        if (b === LF) this.#bare = true;
        state = MID;
      }
      out.push(b);
    }
    this.#state = state;
    return chunk.length;
  }

  /** The end-of-data line has been read. */
  get done(): boolean {
    return this.#state === END;
  }
  /** A bare CR or LF was seen: reject the message (SMTP smuggling, RFC 5321 section 2.3.8). */
  get bareLineEnding(): boolean {
    return this.#bare;
  }
  /** The unstuffed content exceeded the limit; only the first `maxBytes` octets were kept. */
  get tooLarge(): boolean {
    return this.#out.overflowed;
  }
  /** Unstuffed content octets seen so far, including any beyond the limit. */
  get size(): number {
    return this.#out.size;
  }
  /** Stops keeping content (the budget refused it); reading goes on to the end. */
  discard(): void {
    this.#out.drop();
  }
  /** The unstuffed message; complete only when `done` and not `tooLarge`. */
  message(): Uint8Array {
    return this.#out.bytes();
  }
}

/** Accumulates BDAT chunks (RFC 3030 section 2) under one size limit for the whole message. */
export class BdatReader {
  #out: BoundedBuffer;
  #remaining = 0;
  constructor(maxBytes: number) {
    this.#out = new BoundedBuffer(maxBytes);
  }
  /** Starts a chunk of `size` octets, which must then be fed in full. */
  begin(size: number): void {
    this.#remaining = size;
  }
  /** Consumes up to the rest of the current chunk; returns how many octets it took. */
  feed(chunk: Uint8Array): number {
    const n = Math.min(chunk.length, this.#remaining);
    if (n === 0) return 0;
    this.#out.append(n === chunk.length ? chunk : chunk.subarray(0, n));
    this.#remaining -= n;
    return n;
  }
  /** Octets still owed by the current chunk. */
  get remaining(): number {
    return this.#remaining;
  }
  get tooLarge(): boolean {
    return this.#out.overflowed;
  }
  get size(): number {
    return this.#out.size;
  }
  /** Stops keeping content (the budget refused it); chunks are still read to their end. */
  discard(): void {
    this.#out.drop();
  }
  /** The message, after the last chunk. */
  message(): Uint8Array {
    return this.#out.bytes();
  }
}
