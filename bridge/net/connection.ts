/**
 * One client connection for the line-based protocols (SMTP, IMAP, POP3): pull-style reads of
 * lines (bounded length) or raw chunks over a node:net or node:tls socket, writes that respect
 * backpressure, idle timeouts, and the STARTTLS upgrade (RFC 3207 section 4.2, RFC 2595):
 * plaintext the client pipelined after the STARTTLS command is discarded, never processed as if
 * it had come over TLS (the CVE-2011-0411 command-injection class).
 */
import type { Socket } from "node:net";
import { type SecureContext, TLSSocket } from "node:tls";

export type LineResult =
  | { kind: "line"; line: string; bytes: number }
  | { kind: "too_long" }
  | { kind: "closed" };

/** What `readCommand` adds: the listener is shutting down, the session should say so and end. */
export type CommandResult = LineResult | { kind: "stopping" };

const HIGH_WATER = 256 * 1024;
const decoder = new TextDecoder();

export class Connection {
  private chunks: Uint8Array[] = [];
  private buffered = 0;
  private waiter?: () => void;
  private ended = false;
  private socket: Socket;
  /**
   * One timer per connection, armed lazily: activity only records a time, and the timer, when it
   * fires early, re-arms itself for the rest (a setTimeout/clearTimeout pair per line costs).
   */
  private idleTimer?: ReturnType<typeof setTimeout>;
  private idleDue = 0;
  private lastActivity = 0;
  /** We called close(): the socket ends gracefully (pending writes and FIN still go out). */
  private closing = false;
  /** We paused the socket for backpressure (tracked here: isPaused() is not reliable everywhere). */
  private paused = false;
  readonly remoteAddress: string;
  tls: boolean;

  constructor(socket: Socket, private idleMs: number, tls = false) {
    this.socket = socket;
    this.tls = tls;
    this.remoteAddress = normalizeIp(socket.remoteAddress ?? "unknown");
    this.attach(socket);
    this.touch();
  }

  private attach(socket: Socket): void {
    socket.on("data", (data: Uint8Array) => {
      this.chunks.push(new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
      this.buffered += data.byteLength;
      // A client that sends faster than we process waits: pause reading, not buffer forever.
      if (this.buffered > HIGH_WATER && !this.paused) {
        this.paused = true;
        socket.pause();
      }
      this.wake();
    });
    const end = () => {
      this.ended = true;
      this.wake();
    };
    socket.on("end", end);
    socket.on("close", end);
    socket.on("error", end);
  }

  private resumeReading(): void {
    if (!this.paused) return;
    this.paused = false;
    this.socket.resume();
  }

  private wake(): void {
    const w = this.waiter;
    this.waiter = undefined;
    w?.();
  }

  private touch(): void {
    this.lastActivity = performance.now();
    const due = Math.min(this.lastActivity + this.idleMs, this.deadlineAt);
    // An armed timer due no later than the new deadline re-arms itself when it fires.
    if (this.idleTimer !== undefined && this.idleDue <= due) return;
    this.arm(due);
  }

  private arm(due: number): void {
    if (this.idleTimer !== undefined) clearTimeout(this.idleTimer);
    this.idleDue = due;
    this.idleTimer = setTimeout(() => {
      this.idleTimer = undefined;
      if (this.ended) return;
      const now = performance.now() + 1;
      if (now >= this.deadlineAt) return this.onDeadline?.();
      const idleDue = this.lastActivity + this.idleMs;
      if (now >= idleDue) return this.onIdle?.();
      this.arm(Math.min(idleDue, this.deadlineAt));
    }, Math.max(0, due - performance.now()));
  }

  private stopTimer(): void {
    if (this.idleTimer !== undefined) clearTimeout(this.idleTimer);
    this.idleTimer = undefined;
  }

  /** Called when the client has been silent for the idle time (the server replies and closes). */
  onIdle?: () => void;

  setIdleTimeout(ms: number): void {
    this.idleMs = ms;
    this.lastActivity = performance.now();
    this.arm(Math.min(this.lastActivity + ms, this.deadlineAt));
  }

  private deadlineAt = Infinity;
  private onDeadline?: () => void;

  /** Calls `onDeadline` once `ms` from now have passed, active or not (a session's total time). */
  setDeadline(ms: number, onDeadline: () => void): void {
    this.onDeadline = onDeadline;
    this.deadlineAt = performance.now() + ms;
    if (this.idleTimer === undefined || this.idleDue > this.deadlineAt) this.arm(this.deadlineAt);
  }

  /**
   * Waits for more input (whatever is buffered is not enough for the caller). False when the
   * client has gone: nothing more will come.
   */
  private async waitForData(): Promise<boolean> {
    if (this.ended) return false;
    this.resumeReading();
    await new Promise<void>((resolve) => (this.waiter = resolve));
    this.touch();
    return true;
  }

  private take(n: number): Uint8Array {
    const first = this.chunks[0];
    // Within the first chunk (most lines, most content reads): a view, no copy. Each chunk is
    // its own buffer from the socket, never reused, so the view stays valid.
    if (first && first.byteLength >= n) {
      if (first.byteLength === n) this.chunks.shift();
      else this.chunks[0] = first.subarray(n);
      this.buffered -= n;
      return first.subarray(0, n);
    }
    const out = new Uint8Array(n);
    let filled = 0;
    while (filled < n) {
      const head = this.chunks[0];
      const need = n - filled;
      if (head.byteLength <= need) {
        out.set(head, filled);
        filled += head.byteLength;
        this.chunks.shift();
      } else {
        out.set(head.subarray(0, need), filled);
        this.chunks[0] = head.subarray(need);
        filled += need;
      }
    }
    this.buffered -= n;
    return out;
  }

  /**
   * Reads one line ending in LF (the CR before it is stripped by the caller's protocol rules,
   * here we return the text without the LF). A line longer than `max` bytes is consumed up to
   * its end and reported as too long, without buffering more than `max` bytes of it.
   */
  async readLine(max: number): Promise<LineResult> {
    return await this.#readLine(max, false) as LineResult;
  }

  /**
   * The session's next command line, or `stopping` once the listener shuts down (`shutdown`):
   * at once when it already had, else as soon as it does while the session waits here. Reads
   * in the middle of a command (SMTP DATA, IMAP literals) use readLine/readChunk/readExact and
   * are not interrupted, so a transfer under way finishes and gets its reply first.
   */
  async readCommand(max: number): Promise<CommandResult> {
    if (this.stopping) return { kind: "stopping" };
    return await this.#readLine(max, true);
  }

  /** Set by `shutdown()`: the listener is closing. */
  stopping = false;

  /** The listener is closing: a session waiting for a command is woken to end (readCommand). */
  shutdown(): void {
    this.stopping = true;
    // A TLS handshake under way has nothing to finish: cut it rather than wait for it.
    if (this.#handshaking) this.destroy();
    else this.wake();
  }

  #handshaking = false;

  async #readLine(max: number, command: boolean): Promise<CommandResult> {
    let scanned = 0;
    let discarding = false;
    for (;;) {
      let offset = 0;
      for (const chunk of this.chunks) {
        const lf = chunk.indexOf(10);
        if (lf >= 0) {
          const total = offset + lf + 1;
          const bytes = this.take(total);
          if (discarding || scanned + total > max + 2) return { kind: "too_long" };
          const text = decoder.decode(bytes.subarray(0, bytes.byteLength - 1));
          return {
            kind: "line",
            line: text.endsWith("\r") ? text.slice(0, -1) : text,
            bytes: total,
          };
        }
        offset += chunk.byteLength;
      }
      if (offset > max + 2) {
        // Drop what we have of the overlong line and keep scanning for its end.
        this.take(offset);
        scanned += offset;
        discarding = true;
      }
      if (command && this.stopping) return { kind: "stopping" };
      if (!await this.waitForData()) return { kind: "closed" };
    }
  }

  /** The next bytes the client sent (at most `max`), or undefined when the connection closed. */
  async readChunk(max = 64 * 1024): Promise<Uint8Array | undefined> {
    while (this.chunks.length === 0) {
      if (!await this.waitForData()) return undefined;
    }
    const n = Math.min(max, this.chunks[0].byteLength);
    return this.take(n);
  }

  /**
   * `readChunk` for a session between two of its commands (SHARP's JSON lines): `stopping`
   * once the listener shuts down, as `readCommand` does for line protocols.
   */
  async readCommandChunk(max = 64 * 1024): Promise<Uint8Array | undefined | "stopping"> {
    while (this.chunks.length === 0) {
      if (this.stopping) return "stopping";
      if (!await this.waitForData()) return undefined;
    }
    return this.take(Math.min(max, this.chunks[0].byteLength));
  }

  /** Reads exactly `n` bytes (IMAP literals, BDAT chunks); undefined if the client went away. */
  async readExact(n: number): Promise<Uint8Array | undefined> {
    while (this.buffered < n) {
      if (!await this.waitForData()) return undefined;
    }
    return this.take(n);
  }

  /** Puts bytes back in front of the input (a reader that read past what it needed). */
  unread(bytes: Uint8Array): void {
    if (bytes.byteLength === 0) return;
    this.chunks.unshift(bytes);
    this.buffered += bytes.byteLength;
  }

  get hasBufferedInput(): boolean {
    return this.buffered > 0;
  }

  /**
   * Writes and waits until the socket accepted the bytes (backpressure). Pieces (a response of
   * text and message literals) go out corked, as one vectored write: no copy into one buffer.
   */
  async write(data: string | Uint8Array | readonly Uint8Array[]): Promise<void> {
    if (this.socket.destroyed) return;
    await new Promise<void>((resolve) => {
      if (typeof data === "string" || data instanceof Uint8Array) {
        if (this.socket.write(data, () => resolve())) resolve();
        return;
      }
      if (data.length === 0) return resolve();
      this.socket.cork();
      let flushed = true;
      const last = data.length - 1;
      for (let i = 0; i < last; i++) this.socket.write(data[i]);
      flushed = this.socket.write(data[last], () => resolve());
      this.socket.uncork();
      if (flushed) resolve();
    });
  }

  /**
   * Upgrades to TLS as the server, in place (STARTTLS, or implicit TLS on accept). Pipelined
   * plaintext is discarded first; rejects (and the caller closes) when the handshake fails.
   */
  async startTls(context: SecureContext, timeoutMs = 30_000): Promise<void> {
    this.chunks = [];
    this.buffered = 0;
    const plain = this.socket;
    plain.removeAllListeners("data");
    plain.removeAllListeners("end");
    plain.removeAllListeners("close");
    const secure = new TLSSocket(plain, { isServer: true, secureContext: context });
    this.socket = secure;
    this.ended = false;
    this.attach(secure);
    let timer: ReturnType<typeof setTimeout> | undefined;
    this.#handshaking = true;
    try {
      await new Promise<void>((resolve, reject) => {
        secure.once("secure", () => resolve());
        secure.once("error", reject);
        secure.once("close", () => reject(new Error("closed during the TLS handshake")));
        timer = setTimeout(() => reject(new Error("TLS handshake timed out")), timeoutMs);
      });
    } finally {
      this.#handshaking = false;
      clearTimeout(timer);
    }
    this.tls = true;
  }

  /**
   * Ends the connection gracefully: `last` (a final reply) and anything still queued go out
   * with the FIN, in one write; a client that does not close its side within a second is cut.
   * `released`: the client said goodbye (QUIT, LOGOUT), so nothing more is read and the socket
   * is let go as soon as the reply is with the kernel, which still sends it and the FIN. Clients
   * that reset instead of closing (Postfix's smtp-source does) then cost no error handling.
   */
  close(last?: string | Uint8Array, options: { released?: boolean } = {}): void {
    this.stopTimer();
    this.ended = true;
    if (!this.closing && !this.socket.destroyed) {
      this.closing = true;
      const socket = this.socket;
      const done = options.released ? () => socket.destroy() : undefined;
      if (last) socket.end(last, done);
      else socket.end(done);
      const timer = setTimeout(() => socket.destroy(), 1000);
      (timer as { unref?: () => void }).unref?.();
      socket.once("close", () => clearTimeout(timer));
    }
    this.wake();
  }

  /**
   * Releases the connection when its handler is done: cut at once, unless close() already
   * ends it gracefully (destroying then would drop the final reply and raise stream errors).
   */
  destroy(): void {
    this.stopTimer();
    this.ended = true;
    if (!this.closing) this.socket.destroy();
    this.wake();
  }

  get closed(): boolean {
    return this.ended;
  }
}

/** `::ffff:127.0.0.1` → `127.0.0.1`. */
export function normalizeIp(ip: string): string {
  return ip.startsWith("::ffff:") ? ip.slice(7) : ip;
}
