/**
 * A `Transport` over a node:net or node:tls socket (Bun's sockets, and the TLS layer for Deno's
 * STARTTLS, which Deno's own API offers only to clients).
 */
import type { Socket } from "node:net";
import { type SecureContext, TLSSocket } from "node:tls";
import type { Outgoing, Transport, TransportSink } from "./transport.ts";

export class NodeTransport implements Transport {
  readonly remoteAddress: string;

  constructor(private socket: Socket) {
    this.remoteAddress = socket.remoteAddress ?? "unknown";
  }

  get destroyed(): boolean {
    return this.socket.destroyed;
  }

  attach(sink: TransportSink): void {
    this.socket.on("data", (data: Uint8Array) => {
      sink.data(new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
    });
    const end = () => sink.end();
    this.socket.on("end", end);
    this.socket.on("close", end);
    this.socket.on("error", end);
  }

  pause(): void {
    this.socket.pause();
  }

  resume(): void {
    this.socket.resume();
  }

  /** Pieces (a response of text and message literals) go out corked: one vectored write. */
  async write(data: Outgoing): Promise<void> {
    if (this.socket.destroyed) return;
    const socket = this.socket;
    await new Promise<void>((resolve) => {
      if (typeof data === "string" || data instanceof Uint8Array) {
        if (socket.write(data, () => resolve())) resolve();
        return;
      }
      if (data.length === 0) return resolve();
      socket.cork();
      const last = data.length - 1;
      for (let i = 0; i < last; i++) socket.write(data[i]);
      const flushed = socket.write(data[last], () => resolve());
      socket.uncork();
      if (flushed) resolve();
    });
  }

  end(last: string | Uint8Array | undefined, released: boolean): void {
    const socket = this.socket;
    if (socket.destroyed) return;
    const done = released ? () => socket.destroy() : undefined;
    if (last) socket.end(last, done);
    else socket.end(done);
    const timer = setTimeout(() => socket.destroy(), 1000);
    (timer as { unref?: () => void }).unref?.();
    socket.once("close", () => clearTimeout(timer));
  }

  destroy(): void {
    this.socket.destroy();
  }

  onClose(listener: () => void): void {
    this.socket.once("close", listener);
  }

  async startTls(context: SecureContext, timeoutMs: number): Promise<Transport> {
    const plain = this.socket;
    plain.removeAllListeners("data");
    plain.removeAllListeners("end");
    plain.removeAllListeners("close");
    return await secureServerSide(plain, context, timeoutMs);
  }
}

/**
 * The server side of a TLS handshake over `stream` (a node socket, or any duplex carrying the
 * client's bytes): the encrypted session's transport once the handshake is done.
 */
export async function secureServerSide(
  stream: Socket,
  context: SecureContext,
  timeoutMs: number,
): Promise<NodeTransport> {
  const secure = new TLSSocket(stream, { isServer: true, secureContext: context });
  const transport = new NodeTransport(secure);
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    await new Promise<void>((resolve, reject) => {
      secure.once("secure", () => resolve());
      secure.once("error", reject);
      secure.once("close", () => reject(new Error("closed during the TLS handshake")));
      timer = setTimeout(() => reject(new Error("TLS handshake timed out")), timeoutMs);
    });
  } catch (e) {
    secure.destroy();
    throw e;
  } finally {
    clearTimeout(timer);
  }
  return transport;
}
