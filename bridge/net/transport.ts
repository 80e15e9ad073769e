/**
 * What a `Connection` needs from the socket under it, so that the line, timer and STARTTLS
 * rules live once (connection.ts) over either runtime's sockets: node:net/node:tls (Bun, and
 * the TLS handshakes, which Deno's API offers servers only on its TLS listener) or Deno's own
 * TCP connections, which skip the node:net compatibility layer's streams and events.
 */
import type { SecureContext } from "node:tls";

/** Where a transport delivers what the client sends. */
export interface TransportSink {
  /** Bytes from the client; each chunk is its own buffer (never reused by the transport). */
  data(chunk: Uint8Array): void;
  /** The client closed its side, the connection broke, or it was cut: no more data. */
  end(): void;
}

export type Outgoing = string | Uint8Array | readonly Uint8Array[];

export interface Transport {
  /** The peer's IP address as the runtime reports it (normalizeIp strips a v4-mapped prefix). */
  readonly remoteAddress: string;
  /** True once the connection is cut: writes are dropped. */
  readonly destroyed: boolean;
  /** Starts delivering input; called once. */
  attach(sink: TransportSink): void;
  /** Stops reading from the socket (the reader is behind); `resume` starts again. */
  pause(): void;
  resume(): void;
  /**
   * Resolves once the socket has taken the bytes (backpressure); never rejects: a write to a
   * broken connection ends it (the sink hears `end`).
   */
  write(data: Outgoing): Promise<void>;
  /**
   * Graceful close: `last` and anything queued go out, then the FIN. `released`: the socket is
   * let go as soon as that is with the kernel; otherwise the client has a second to close its
   * side before the connection is cut.
   */
  end(last: string | Uint8Array | undefined, released: boolean): void;
  /** Cuts the connection at once. */
  destroy(): void;
  /** Runs `listener` once, when the connection is finally closed. */
  onClose(listener: () => void): void;
  /**
   * The TLS server handshake over this connection (STARTTLS, or implicit TLS on accept):
   * resolves to the transport that carries the encrypted session once the handshake is done.
   * This transport is then consumed; a failed handshake rejects and the caller closes.
   */
  startTls(context: SecureContext, timeoutMs: number): Promise<Transport>;
}
