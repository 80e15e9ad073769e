/**
 * One HTTP/1.1 exchange (RFC 9112) over a connection to an address chosen by the caller: TCP to
 * exactly that IP (`Deno.connect`), then for `https:` TLS with the URL's host as the server name
 * (RFC 6066 section 3) and the certificate verified against it (`Deno.startTls`). This is how the
 * Deno Deploy host pins outbound requests to the address its SSRF check approved: `fetch` would
 * resolve the name again, and Deno's fetch cannot be told which address to use for TLS.
 *
 * Deliberately small: one request per connection (`Connection: close`), the body sent with a
 * Content-Length, the response read whole — by Content-Length, chunked transfer coding
 * (section 7.1) or to the end of the connection — within a byte cap and a deadline. No
 * redirects are followed (a 3xx is returned as it is), no compression is asked for.
 */

export interface PinnedOptions {
  /** Extra CA certificates (PEM) trusted for TLS, besides the platform's. */
  caCerts?: string[];
  /** Largest response body read; a longer one fails. */
  maxResponseBytes: number;
  /** Largest response head (status line and fields). */
  maxHeadBytes?: number;
  /** The whole exchange's deadline. */
  timeoutMs?: number;
}

const CRLF = new Uint8Array([13, 10]);
const encoder = new TextEncoder();
/** Request fields this client sets itself (framing and connection management). */
const OWN_FIELDS = new Set([
  "host",
  "connection",
  "content-length",
  "transfer-encoding",
  "keep-alive",
]);

class HttpError extends Error {
  override name = "HttpError";
}

/** Bytes from a connection, read on demand, with everything read counted against limits. */
class Input {
  private buffer: Uint8Array<ArrayBuffer> = new Uint8Array(0);
  private done = false;
  constructor(private readonly reader: ReadableStreamDefaultReader<Uint8Array>) {}

  private async more(): Promise<boolean> {
    if (this.done) return false;
    const { value, done } = await this.reader.read();
    if (done || !value) {
      this.done = true;
      return false;
    }
    const next = new Uint8Array(this.buffer.length + value.length);
    next.set(this.buffer);
    next.set(value, this.buffer.length);
    this.buffer = next;
    return true;
  }

  private take(n: number): Uint8Array<ArrayBuffer> {
    const out = this.buffer.slice(0, n);
    this.buffer = this.buffer.slice(n);
    return out;
  }

  /** Bytes up to (not including) `marker`, which is consumed; at most `max` bytes. */
  async until(marker: Uint8Array, max: number, what: string): Promise<Uint8Array> {
    for (;;) {
      const at = indexOf(this.buffer, marker);
      if (at >= 0) {
        const out = this.take(at);
        this.take(marker.length);
        return out;
      }
      if (this.buffer.length > max) throw new HttpError(`${what} longer than ${max} bytes`);
      if (!await this.more()) throw new HttpError(`connection closed inside the ${what}`);
    }
  }

  async exactly(n: number): Promise<Uint8Array<ArrayBuffer>> {
    while (this.buffer.length < n) {
      if (!await this.more()) throw new HttpError("connection closed inside the body");
    }
    return this.take(n);
  }

  /** Everything until the peer closes, at most `max` bytes. */
  async rest(max: number): Promise<Uint8Array<ArrayBuffer>> {
    while (await this.more()) {
      if (this.buffer.length > max) throw new HttpError(`response larger than ${max} bytes`);
    }
    return this.take(this.buffer.length);
  }
}

function indexOf(haystack: Uint8Array, needle: Uint8Array): number {
  outer: for (let i = 0; i + needle.length <= haystack.length; i++) {
    for (let j = 0; j < needle.length; j++) if (haystack[i + j] !== needle[j]) continue outer;
    return i;
  }
  return -1;
}

function concat(parts: Uint8Array[]): Uint8Array<ArrayBuffer> {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/** The request head: origin-form target (RFC 9112 section 3.2.1), Host first. */
function requestHead(request: Request, url: URL, bodyLength: number | undefined): Uint8Array {
  const lines = [`${request.method} ${url.pathname}${url.search} HTTP/1.1`, `Host: ${url.host}`];
  for (const [name, value] of request.headers) {
    if (!OWN_FIELDS.has(name)) lines.push(`${name}: ${value}`);
  }
  if (bodyLength !== undefined) lines.push(`Content-Length: ${bodyLength}`);
  lines.push("Connection: close", "", "");
  return encoder.encode(lines.join("\r\n"));
}

/** Parses the status line and fields; obsolete line folding is refused (section 5.2). */
function parseHead(head: string): { status: number; headers: Headers } {
  const [statusLine, ...fields] = head.split("\r\n");
  const m = statusLine.match(/^HTTP\/1\.[01] (\d{3})(?: .*)?$/);
  if (!m) throw new HttpError(`not an HTTP/1.1 status line: ${statusLine.slice(0, 80)}`);
  const headers = new Headers();
  for (const line of fields) {
    if (/^[ \t]/.test(line)) throw new HttpError("folded header field");
    const colon = line.indexOf(":");
    if (colon <= 0) throw new HttpError("malformed header field");
    try {
      headers.append(line.slice(0, colon), line.slice(colon + 1).trim());
    } catch {
      // A field the Fetch API cannot carry is dropped, not fatal.
    }
  }
  return { status: Number(m[1]), headers };
}

/** The chunked transfer coding (RFC 9112 section 7.1), trailers read and dropped. */
async function readChunked(input: Input, cap: number): Promise<Uint8Array<ArrayBuffer>> {
  const parts: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const line = new TextDecoder().decode(await input.until(CRLF, 1024, "chunk size"));
    const n = parseInt(line.split(";")[0].trim(), 16);
    if (!Number.isFinite(n) || n < 0 || !/^[0-9a-fA-F]+$/.test(line.split(";")[0].trim())) {
      throw new HttpError("bad chunk size");
    }
    if (n === 0) break;
    size += n;
    if (size > cap) throw new HttpError(`response larger than ${cap} bytes`);
    parts.push(await input.exactly(n));
    await input.exactly(2); // the CRLF after each chunk
  }
  while ((await input.until(CRLF, 8192, "trailer")).length > 0) { /* trailer fields */ }
  return concat(parts);
}

/** Sends `request` to `address` (an IP) and reads the whole response; see the module comment. */
export async function pinnedExchange(
  request: Request,
  address: string,
  options: PinnedOptions,
): Promise<Response> {
  const url = new URL(request.url);
  const secure = url.protocol === "https:";
  const port = Number(url.port || (secure ? 443 : 80));
  const body = request.body ? new Uint8Array(await request.arrayBuffer()) : undefined;
  const sendsBody = body !== undefined || ["POST", "PUT", "PATCH"].includes(request.method);
  const deadline = AbortSignal.any([
    AbortSignal.timeout(options.timeoutMs ?? 30_000),
    ...(request.signal ? [request.signal] : []),
  ]);
  const tcp = await Deno.connect({ hostname: address, port });
  let conn: Deno.Conn = tcp;
  const close = () => {
    try {
      conn.close();
    } catch { /* already closed */ }
  };
  deadline.addEventListener("abort", close, { once: true });
  try {
    if (secure) {
      conn = await Deno.startTls(tcp, {
        hostname: url.hostname.replace(/^\[|\]$/g, ""),
        caCerts: options.caCerts,
        alpnProtocols: ["http/1.1"],
      });
    }
    const writer = conn.writable.getWriter();
    await writer.write(requestHead(request, url, sendsBody ? body?.length ?? 0 : undefined));
    if (body?.length) await writer.write(body);
    writer.releaseLock();
    const input = new Input(conn.readable.getReader());
    const head = new TextDecoder().decode(
      await input.until(new Uint8Array([13, 10, 13, 10]), options.maxHeadBytes ?? 65_536, "head"),
    );
    const { status, headers } = parseHead(head);
    if (status < 200) throw new HttpError(`unexpected interim status ${status}`);
    const cap = options.maxResponseBytes;
    let content: Uint8Array<ArrayBuffer> | null;
    if (request.method === "HEAD" || status === 204 || status === 304) {
      content = null;
    } else if (/(^|,)\s*chunked\s*$/i.test(headers.get("transfer-encoding") ?? "")) {
      content = await readChunked(input, cap);
    } else if (headers.has("content-length")) {
      const n = Number(headers.get("content-length"));
      if (!Number.isSafeInteger(n) || n < 0) throw new HttpError("bad Content-Length");
      if (n > cap) throw new HttpError(`response larger than ${cap} bytes`);
      content = await input.exactly(n);
    } else {
      content = await input.rest(cap);
    }
    headers.delete("transfer-encoding");
    headers.delete("connection");
    return new Response(content, { status, headers });
  } catch (e) {
    if (deadline.aborted) throw new HttpError(`${url.host}: no answer in time`);
    throw e;
  } finally {
    deadline.removeEventListener("abort", close);
    close();
  }
}
