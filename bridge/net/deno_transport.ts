/**
 * A `Transport` over Deno's own TCP connection, for the bridge under Deno: reads into a
 * per-connection buffer and writes bytes straight to the socket, without the node:net
 * compatibility layer's streams, events and per-write bookkeeping (about 4 % of the SMTP ingest
 * event loop; most of the 8-12 % its `writeUtf8String` showed is the kernel's loopback send,
 * which `op_write` pays here just the same). Deno offers the TLS server handshake only on a
 * listener's accepted connections, so STARTTLS runs node:tls over this transport (a duplex of
 * its bytes).
 */
import { Duplex } from "node:stream";
import type { Socket } from "node:net";
import type { SecureContext } from "node:tls";
import { secureServerSide } from "./node_transport.ts";
import type { Outgoing, Transport, TransportSink } from "./transport.ts";

/**
 * First read size; a read that fills the buffer doubles it up to MAX_READ (bulk transfers), and
 * a read that uses under a quarter of a grown one goes back to this size, so an idle connection
 * holds 16 KiB, not what its last upload needed.
 */
const FIRST_READ = 16 * 1024;
const MAX_READ = 256 * 1024;
/** Written pieces are joined up to this size: fewer write calls for one copy of small pieces. */
const JOIN_LIMIT = 64 * 1024;
/** How long a closed connection waits for the client to close its side before it is cut. */
const LINGER_MS = 1000;

const encoder = new TextEncoder();

/**
 * First-size read buffers of closed connections, for the next ones: a fresh 16 KiB buffer per
 * connection (zeroed, and external memory the GC accounts for) was a sixth of a plain SMTP
 * session's socket work.
 */
const spareBuffers: Uint8Array[] = [];
const MAX_SPARE = 64;

export class DenoTransport implements Transport {
  readonly remoteAddress: string;
  #conn: Deno.Conn;
  #sink?: TransportSink;
  #buffer = spareBuffers.pop() ?? new Uint8Array(FIRST_READ);
  #reading = false;
  #paused = false;
  #eof = false;
  #destroyed = false;
  /** end() was called: input is read (to see the client's FIN) and dropped. */
  #ending = false;
  #writes: Promise<void> = Promise.resolve();
  #closeListeners: (() => void)[] = [];
  #lingerTimer?: ReturnType<typeof setTimeout>;

  constructor(conn: Deno.Conn) {
    this.#conn = conn;
    const addr = conn.remoteAddr as Deno.NetAddr;
    this.remoteAddress = addr.hostname ?? "unknown";
  }

  get destroyed(): boolean {
    return this.#destroyed;
  }

  attach(sink: TransportSink): void {
    this.#sink = sink;
    this.#pump();
  }

  pause(): void {
    this.#paused = true;
  }

  resume(): void {
    this.#paused = false;
    this.#pump();
  }

  /** Reads while nobody paused us; one read at a time into the reused buffer. */
  async #pump(): Promise<void> {
    if (this.#reading || this.#eof || this.#destroyed) return;
    this.#reading = true;
    try {
      for (;;) {
        if (this.#paused && !this.#ending) return;
        const n = await this.#conn.read(this.#buffer);
        if (n === null) break;
        if (this.#ending) continue;
        const size = this.#buffer.byteLength;
        this.#sink?.data(this.#buffer.slice(0, n));
        if (n === size && size < MAX_READ) this.#buffer = new Uint8Array(size * 2);
        else if (size > FIRST_READ && n < size / 4) {
          this.#buffer = spareBuffers.pop() ?? new Uint8Array(FIRST_READ);
        }
      }
    } catch {
      // A reset or a connection closed under the read: the end, as for a FIN.
    } finally {
      this.#reading = false;
    }
    this.#eof = true;
    this.#sink?.end();
    if (this.#ending) this.destroy();
    this.#releaseBuffer();
  }

  /** Once no read can use the buffer again, it serves the next connection. */
  #releaseBuffer(): void {
    const buffer = this.#buffer;
    if (buffer.byteLength !== FIRST_READ || spareBuffers.length >= MAX_SPARE) return;
    this.#buffer = new Uint8Array(0);
    spareBuffers.push(buffer);
  }

  write(data: Outgoing): Promise<void> {
    if (this.#destroyed) return Promise.resolve();
    const pieces = typeof data === "string"
      ? [encoder.encode(data)]
      : data instanceof Uint8Array
      ? [data]
      : joinSmall(data);
    const written = this.#writes.then(() => this.#writeAll(pieces));
    this.#writes = written;
    return written;
  }

  /** Writes every byte (Deno's write may take part of a buffer); a failure cuts the connection. */
  async #writeAll(pieces: readonly Uint8Array[]): Promise<void> {
    try {
      for (const piece of pieces) {
        let offset = 0;
        while (offset < piece.byteLength && !this.#destroyed) {
          offset += await this.#conn.write(piece.subarray(offset));
        }
      }
    } catch {
      this.destroy();
    }
  }

  end(last: string | Uint8Array | undefined, released: boolean): void {
    if (this.#ending || this.#destroyed) return;
    const flushed = last ? this.write(last) : this.#writes;
    this.#ending = true;
    // A client that reads nothing (the writes wait) or never closes its side is cut.
    this.#lingerTimer = setTimeout(() => this.destroy(), LINGER_MS);
    this.#lingerTimer.unref();
    this.#writes = flushed.then(async () => {
      if (this.#destroyed) return;
      // Released: close() alone sends the FIN after the queued bytes (one call fewer).
      if (released || this.#eof) return this.destroy();
      try {
        await this.#conn.closeWrite();
      } catch {
        return this.destroy();
      }
      // Wait for the client's FIN (the pump reads on and drops what comes), then close.
      this.#pump();
    });
  }

  destroy(): void {
    if (this.#destroyed) return;
    this.#destroyed = true;
    clearTimeout(this.#lingerTimer);
    try {
      this.#conn.close();
    } catch {
      // Already closed (consumed by a TLS upgrade, or by the runtime after an error).
    }
    if (!this.#reading && !this.#eof) {
      this.#eof = true;
      this.#sink?.end();
      this.#releaseBuffer();
    }
    for (const listener of this.#closeListeners.splice(0)) listener();
  }

  onClose(listener: () => void): void {
    if (this.#destroyed) listener();
    else this.#closeListeners.push(listener);
  }

  /**
   * STARTTLS: node:tls's server handshake over a duplex of this connection's bytes. Input the
   * pump reads from now on is the client's TLS records, handed to the duplex.
   */
  async startTls(context: SecureContext, timeoutMs: number): Promise<Transport> {
    const duplex = new Duplex({
      read: () => this.resume(),
      write: (chunk: Uint8Array, _encoding, callback) => {
        this.write(chunk).then(() => callback());
      },
      final: (callback) => {
        this.end(undefined, false);
        callback();
      },
      destroy: (error, callback) => {
        this.destroy();
        callback(error);
      },
    });
    this.#sink = {
      data: (chunk) => {
        if (!duplex.push(chunk)) this.pause();
      },
      end: () => {
        duplex.push(null);
      },
    };
    this.onClose(() => duplex.destroy());
    if (this.#eof) duplex.push(null);
    return await secureServerSide(duplex as unknown as Socket, context, timeoutMs);
  }
}

/** Joins runs of small pieces (a response's text between literals) into one buffer each. */
function joinSmall(pieces: readonly Uint8Array[]): Uint8Array[] {
  const out: Uint8Array[] = [];
  let run: Uint8Array[] = [];
  let runBytes = 0;
  const closeRun = () => {
    if (run.length === 1) out.push(run[0]);
    else if (run.length > 1) {
      const joined = new Uint8Array(runBytes);
      let offset = 0;
      for (const piece of run) {
        joined.set(piece, offset);
        offset += piece.byteLength;
      }
      out.push(joined);
    }
    run = [];
    runBytes = 0;
  };
  for (const piece of pieces) {
    if (runBytes + piece.byteLength > JOIN_LIMIT) closeRun();
    if (piece.byteLength >= JOIN_LIMIT) out.push(piece);
    else {
      run.push(piece);
      runBytes += piece.byteLength;
    }
  }
  closeRun();
  return out;
}
