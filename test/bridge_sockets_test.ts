/**
 * The bridge's socket layer (bridge/net) through a real listener: the lines a session reads,
 * pieces it writes, the STARTTLS upgrade (plaintext pipelined after the command is dropped,
 * RFC 3207 section 4.2), implicit TLS, the address an IPv6 client is reported by, input larger
 * than the read-ahead limit, a shutdown between commands, and closes: the last reply goes out
 * before the FIN, and a client that reads nothing cannot hold a closing connection open.
 */
import { connect, type Socket } from "node:net";
import { connect as tlsConnect } from "node:tls";
import { assertEquals } from "./fixtures/assert.ts";
import { loadTlsContext } from "../bridge/net/tls.ts";
import type { Connection } from "../bridge/net/connection.ts";
import { listenTcp } from "../bridge/net/tcp_server.ts";
import { generateSelfSigned } from "../hosts/process/tls_files.ts";

const encoder = new TextEncoder();
const decoder = new TextDecoder();

async function listen(handle: (conn: Connection) => Promise<void>, host = "127.0.0.1", tls = {}) {
  return await listenTcp({
    host,
    port: 0,
    maxConnections: 10,
    maxPerIp: 10,
    idleMs: 30_000,
    busyLine: "421 busy\r\n",
    handle,
    ...tls,
  });
}

/** Everything the server sends until it closes. */
async function readAll(conn: Deno.Conn): Promise<string> {
  let text = "";
  const buffer = new Uint8Array(4096);
  for (;;) {
    const n = await conn.read(buffer).catch(() => null);
    if (n === null) return text;
    text += decoder.decode(buffer.subarray(0, n));
  }
}

/** Reads until `text` ends with `suffix`. */
async function readUntil(conn: Deno.Conn, suffix: string): Promise<string> {
  let text = "";
  const buffer = new Uint8Array(4096);
  while (!text.endsWith(suffix)) {
    const n = await conn.read(buffer);
    if (n === null) throw new Error(`closed after ${JSON.stringify(text)}`);
    text += decoder.decode(buffer.subarray(0, n));
  }
  return text;
}

async function tlsFiles() {
  const dir = await Deno.makeTempDir({ prefix: "postern-sockets-" });
  await generateSelfSigned(`${dir}/cert.pem`, `${dir}/key.pem`, ["localhost", "127.0.0.1"]);
  return {
    context: loadTlsContext({ certFile: `${dir}/cert.pem`, keyFile: `${dir}/key.pem` }),
    caCert: await Deno.readTextFile(`${dir}/cert.pem`),
    dir,
  };
}

Deno.test("an IPv6 loopback client: its address, lines, pieces, and the last reply before the FIN", async () => {
  let seen = "";
  const listener = await listen(async (conn) => {
    seen = conn.remoteAddress;
    const line = await conn.readLine(100);
    const long = await conn.readLine(10);
    await conn.write([encoder.encode("one "), encoder.encode("two "), encoder.encode("three\r\n")]);
    conn.close(`bye ${line.kind === "line" ? line.line : line.kind} ${long.kind}\r\n`);
  }, "::1");
  try {
    const client = await Deno.connect({ hostname: "::1", port: listener.port });
    await client.write(encoder.encode("HELLO there\r\nthis line is too long\r\n"));
    assertEquals(await readAll(client), "one two three\r\nbye HELLO there too_long\r\n");
    client.close();
    assertEquals(seen, "::1");
  } finally {
    await listener.close();
  }
});

Deno.test("input far beyond the read-ahead limit arrives whole, in order", async () => {
  const size = 3 * 1024 * 1024 + 7;
  const sent = new Uint8Array(size).map((_, i) => i % 251);
  let same = false;
  const listener = await listen(async (conn) => {
    const got = await conn.readExact(size);
    same = got !== undefined && got.every((b, i) => b === sent[i]);
    await conn.write("done\r\n");
    conn.close();
  });
  try {
    const client = await Deno.connect({ hostname: "127.0.0.1", port: listener.port });
    const writing = (async () => {
      for (let offset = 0; offset < size;) offset += await client.write(sent.subarray(offset));
    })();
    assertEquals(await readAll(client), "done\r\n");
    await writing;
    client.close();
    assertEquals(same, true);
  } finally {
    await listener.close();
  }
});

/** A node socket's text as it arrives, read through `until` (Deno's TLS client refuses a self-signed server). */
function nodeReader(socket: Socket) {
  let text = "";
  let ended = false;
  let notify = () => {};
  socket.on("data", (d: Uint8Array) => {
    text += decoder.decode(d);
    notify();
  });
  socket.on("end", () => {
    ended = true;
    notify();
  });
  socket.on("error", () => {
    ended = true;
    notify();
  });
  return {
    /** Waits for `suffix` (or the end, when omitted), and takes the text so far. */
    async until(suffix?: string): Promise<string> {
      while (suffix ? !text.endsWith(suffix) : !ended) {
        if (ended) throw new Error(`closed after ${JSON.stringify(text)}`);
        await new Promise<void>((r) => (notify = r));
      }
      const out = text;
      text = "";
      return out;
    },
  };
}

Deno.test("STARTTLS: plaintext pipelined after the command is dropped, the session goes on encrypted", async () => {
  const tls = await tlsFiles();
  const lines: string[] = [];
  const listener = await listen(async (conn) => {
    const first = await conn.readLine(100);
    lines.push(first.kind === "line" ? first.line : first.kind);
    await conn.write("220 go ahead\r\n");
    await conn.startTls(tls.context);
    const next = await conn.readLine(100);
    lines.push(next.kind === "line" ? next.line : next.kind);
    await conn.write([encoder.encode("250 "), encoder.encode(`secure=${conn.tls}\r\n`)]);
    conn.close("221 bye\r\n", { released: true });
  });
  try {
    const plain = connect({ host: "127.0.0.1", port: listener.port });
    const plainText = nodeReader(plain);
    plain.write("STARTTLS\r\nINJECTED\r\n");
    assertEquals(await plainText.until("\r\n"), "220 go ahead\r\n");
    plain.removeAllListeners("data");
    const secure = tlsConnect({ socket: plain, ca: tls.caCert, servername: "localhost" });
    const secureText = nodeReader(secure);
    await new Promise((r) => secure.once("secureConnect", r));
    secure.write("NOOP\r\n");
    assertEquals(await secureText.until(), "250 secure=true\r\n221 bye\r\n");
    secure.destroy();
    assertEquals(lines, ["STARTTLS", "NOOP"]);
  } finally {
    await listener.close();
    await Deno.remove(tls.dir, { recursive: true });
  }
});

Deno.test("implicit TLS: the handshake comes first, then the session", async () => {
  const tls = await tlsFiles();
  const listener = await listen(
    async (conn) => {
      await conn.write(`* OK tls=${conn.tls}\r\n`);
      const line = await conn.readLine(100);
      conn.close(`echo ${line.kind === "line" ? line.line : line.kind}\r\n`);
    },
    "127.0.0.1",
    { tls: tls.context },
  );
  try {
    const client = tlsConnect({
      host: "127.0.0.1",
      port: listener.port,
      ca: tls.caCert,
      servername: "localhost",
    });
    const text = nodeReader(client);
    assertEquals(await text.until("\r\n"), "* OK tls=true\r\n");
    client.write("ping\r\n");
    assertEquals(await text.until(), "echo ping\r\n");
    client.destroy();
  } finally {
    await listener.close();
    await Deno.remove(tls.dir, { recursive: true });
  }
});

Deno.test("a shutdown wakes a session waiting for its next command", async () => {
  let result = "";
  const listener = await listen(async (conn) => {
    await conn.write("ready\r\n");
    const read = await conn.readCommand(100);
    result = read.kind;
    conn.close("421 shutting down\r\n");
  });
  const client = await Deno.connect({ hostname: "127.0.0.1", port: listener.port });
  assertEquals(await readUntil(client, "\r\n"), "ready\r\n");
  await listener.close(2_000);
  assertEquals(await readAll(client), "421 shutting down\r\n");
  client.close();
  assertEquals(result, "stopping");
});

Deno.test("a close while the client reads nothing cuts the connection instead of waiting on it", async () => {
  let closedAt = "";
  const listener = await listen(async (conn) => {
    const line = await conn.readLine(100);
    // Far more than the socket buffers hold: the write waits on a client that never reads.
    const writing = conn.write(new Uint8Array(64 * 1024 * 1024));
    conn.close(`bye ${line.kind}\r\n`);
    await writing;
    closedAt = "write settled";
  });
  try {
    const client = await Deno.connect({ hostname: "127.0.0.1", port: listener.port });
    await client.write(encoder.encode("HELLO\r\n"));
    // Wait until the server let go of the session (its write settled when the socket was cut).
    while (listener.connections > 0) await new Promise((r) => setTimeout(r, 50));
    client.close();
    assertEquals(closedAt, "write settled");
  } finally {
    await listener.close();
  }
});
