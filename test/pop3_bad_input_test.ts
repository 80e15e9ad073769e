/**
 * The POP3 listener under bad input over real sockets (a fake maildrop behind it): connection
 * limits per IP, overlong lines, a command trickled in byte by byte, pipelined commands answered
 * in order (RFC 2449 PIPELINING), and a client that vanishes mid-session deleting nothing.
 */
import { assert, assertEquals } from "./fixtures/assert.ts";
import type { LoginResult, Maildrop, Pop3Backend } from "../bridge/pop3/backend.ts";
import { startPop3Server } from "../bridge/pop3/server.ts";

const enc = new TextEncoder();

class Drop implements Maildrop {
  uidValidity = 7;
  messages = [{ uid: 1, size: 14 }, { uid: 2, size: 14 }];
  commits = 0;
  closed = 0;
  fetch(uids: number[]) {
    return Promise.resolve(new Map(uids.map((u) => [u, enc.encode(`Subject: ${u}\r\n\r\n`)])));
  }
  commit() {
    this.commits++;
    return Promise.resolve();
  }
  close() {
    this.closed++;
    return Promise.resolve();
  }
}

class Backend implements Pop3Backend {
  drop = new Drop();
  login(user: string, password: string): Promise<LoginResult> {
    return Promise.resolve(
      user === "u" && password === "p"
        ? { ok: true, maildrop: this.drop }
        : { ok: false, reason: "invalid" },
    );
  }
}

async function listen(backend: Pop3Backend, maxPerIp = 5) {
  return await startPop3Server({
    host: "127.0.0.1",
    port: 0,
    hostname: "pop.test",
    backend,
    allowPlaintextAuth: true,
    maxConnections: 10,
    maxPerIp,
    idleMs: 20_000,
    sessionMs: 60_000,
  });
}

/** Reads until `count` CRLF-terminated lines have arrived (or the peer closed). */
async function lines(conn: Deno.Conn, count: number, have: string[] = []): Promise<string[]> {
  let text = "";
  const buf = new Uint8Array(4096);
  while (have.length + text.split("\r\n").length - 1 < count) {
    const n = await conn.read(buf);
    if (n === null) break;
    text += new TextDecoder().decode(buf.subarray(0, n));
  }
  return have.concat(text.split("\r\n").slice(0, -1));
}

Deno.test("POP3 socket: per-IP limit, overlong line, trickled bytes, pipelining", async () => {
  const backend = new Backend();
  const server = await listen(backend, 2);
  const conns: Deno.Conn[] = [];
  try {
    for (let i = 0; i < 3; i++) {
      conns.push(await Deno.connect({ hostname: "127.0.0.1", port: server.port }));
    }
    assertEquals(await lines(conns[0], 1), ["+OK pop.test Postern POP3 ready"]);
    assertEquals(await lines(conns[1], 1), ["+OK pop.test Postern POP3 ready"]);
    assertEquals(await lines(conns[2], 1), [
      "-ERR [SYS/TEMP] too many connections, try again later",
    ]);
    const c = conns[0];
    // An overlong line is refused and the session goes on.
    await c.write(enc.encode("NOOP " + "x".repeat(20_000) + "\r\n"));
    assertEquals(await lines(c, 1), ["-ERR line too long"]);
    // One byte at a time.
    for (const byte of enc.encode("USER u\r\n")) {
      await c.write(new Uint8Array([byte]));
      await new Promise((r) => setTimeout(r, 5));
    }
    assertEquals(await lines(c, 1), ["+OK"]);
    // A pipelined batch is answered in order.
    await c.write(enc.encode("PASS p\r\nSTAT\r\nLIST 2\r\nDELE 1\r\nRETR 1\r\nTOP 2 0\r\n"));
    assertEquals(await lines(c, 9), [
      "+OK 2 messages (28 octets)",
      "+OK 2 28",
      "+OK 2 14",
      "+OK message 1 deleted",
      "-ERR message 1 already deleted",
      "+OK",
      "Subject: 2",
      "",
      ".",
    ]);
    // The client vanishes without QUIT: nothing is committed, the maildrop is released.
    c.close();
    conns.shift();
    for (let i = 0; i < 50 && backend.drop.closed === 0; i++) {
      await new Promise((r) => setTimeout(r, 20));
    }
    assertEquals(backend.drop.closed, 1);
    assertEquals(backend.drop.commits, 0);
  } finally {
    for (const c of conns) {
      try {
        c.close();
      } catch { /* closed by the server */ }
    }
    await server.close();
  }
});

Deno.test("POP3 socket: too many bad commands close the connection", async () => {
  const server = await listen(new Backend());
  const c = await Deno.connect({ hostname: "127.0.0.1", port: server.port });
  try {
    await lines(c, 1);
    await c.write(enc.encode("BOGUS\r\n".repeat(25)));
    const got = await lines(c, 25);
    assertEquals(got.length, 20, got.join("|"));
    assertEquals(got[19], "-ERR too many bad commands, closing");
    assert(got.slice(0, 19).every((l) => l === "-ERR unknown command"));
  } finally {
    c.close();
    await server.close();
  }
});
