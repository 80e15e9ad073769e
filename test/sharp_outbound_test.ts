/**
 * What Postern's SHARP/1.3 sender puts on the wire, read by a fake SHARP/1.3 server on 127.0.0.1
 * that answers lock-step like the reference and keeps every JSON line: mail sent through the HTTP
 * API (`POST /v1/emails`, VERP on) goes out through the real outbound worker (SRV from a fake
 * DNS). The sender is the author, not the VERP return path (issue15#15); HTML goes as
 * `text/html` (issue15#16); bodies gain no newline and local parts go lower-case (issue15#17);
 * and an address SHARP cannot carry fails its row at once instead of being retried.
 */
import { createServer, type Server, type Socket } from "node:net";
import { createResolver } from "../bridge/dns/resolver.ts";
import { checkStamp } from "../bridge/sharp/hashcash.ts";
import { deliverSharpDomain } from "../bridge/sharp/outbound.ts";
import type { SharpSendRequest, SharpSendResult } from "../bridge/sharp/client.ts";
import type { Result } from "../bridge/smtp_out/deliver.ts";
import { OutboxClient } from "../bridge/smtp_out/outbox_client.ts";
import { OutboundWorker } from "../bridge/smtp_out/worker.ts";
import type { OutboxItem } from "../schemas/bridge_outbox.ts";
import { assert, assertEquals } from "./fixtures/assert.ts";
import { ADMIN, ALICE, createTestGateway, DOMAIN } from "./fixtures/app.ts";
import { bridgeKey } from "./fixtures/bridge.ts";
import { startFakeDns } from "./fixtures/fake_dns.ts";

const BITS = 8;

/** One connection's lines, as the fake server received them (text and parsed JSON). */
interface Capture {
  lines: string[];
  json: Record<string, unknown>[];
}

/** A SHARP/1.3 peer that says OK to every step, in the reference's reply forms. */
function startFakeSharp(): Promise<{ server: Server; port: number; sessions: Capture[] }> {
  const sessions: Capture[] = [];
  const server = createServer((socket: Socket) => {
    const capture: Capture = { lines: [], json: [] };
    sessions.push(capture);
    let buf = "";
    socket.on("error", () => {});
    socket.on("data", (chunk: Uint8Array) => {
      buf += new TextDecoder().decode(chunk);
      for (let i = buf.indexOf("\n"); i >= 0; i = buf.indexOf("\n")) {
        const line = buf.slice(0, i);
        buf = buf.slice(i + 1);
        capture.lines.push(line);
        const cmd = JSON.parse(line);
        capture.json.push(cmd);
        const reply = cmd.type === "HELLO"
          ? { type: "OK", protocol: "SHARP/1.3" }
          : cmd.type === "EMAIL_CONTENT"
          ? { type: "OK", message: "Email content received" }
          : cmd.type === "END_DATA"
          ? { type: "OK", message: "Email processed" }
          : { type: "OK" };
        socket.write(JSON.stringify(reply) + "\n");
        if (cmd.type === "END_DATA") socket.end();
      }
    });
  });
  return new Promise((resolve) =>
    server.listen(
      0,
      "127.0.0.1",
      () => resolve({ server, port: (server.address() as { port: number }).port, sessions }),
    )
  );
}

const byType = (c: Capture, type: string) => c.json.find((j) => j.type === type)!;

interface World {
  /** Sends through the HTTP API (VERP on) and the worker; the peer's capture of it. */
  send(body: Record<string, unknown>): Promise<Capture>;
  close(): Promise<void>;
}

async function world(): Promise<World> {
  const peer = await startFakeSharp();
  const dns = await startFakeDns({
    "_sharp._tcp.b.example": { SRV: [`10 5 ${peer.port} sharp.b.example`] },
    "sharp.b.example": { A: ["127.0.0.1"] },
  });
  const resolver = createResolver({ servers: [dns.server], timeoutMs: 2000, tries: 1 });
  const gw = await createTestGateway({ hostname: "mail.postern.test" });
  const worker = new OutboundWorker({
    gateway: new OutboxClient(
      "http://gateway.internal",
      await bridgeKey(gw),
      (r) => gw.app.fetch(r),
    ),
    resolver,
    hostname: "mail.postern.test",
    port: 1,
    concurrency: 1,
    claimIntervalMs: 50,
    leaseSeconds: 60,
    logger: { log() {} },
    sharp: { hashcashBits: BITS },
  });
  const admin = await gw.login(ADMIN);
  const verp = await gw.call("PATCH", `/v1/domains/${DOMAIN}/sending`, {
    token: admin,
    body: { verp: true },
  });
  assertEquals(verp.status, 200, await verp.clone().text());
  const alice = await gw.login(ALICE);
  return {
    async send(body) {
      const res = await gw.call("POST", "/v1/emails", { token: alice, body });
      assertEquals(res.status, 201, await res.clone().text());
      assertEquals(await worker.runOnce(), 1);
      return peer.sessions[peer.sessions.length - 1];
    },
    async close() {
      await worker.stop();
      await dns.close();
      await new Promise((resolve) => peer.server.close(resolve));
      gw.close();
    },
  };
}

Deno.test("issue15#15: with VERP on, the SHARP sender is the author, not bounces+em_…", async () => {
  const w = await world();
  try {
    const capture = await w.send({
      from: ALICE.address,
      to: ["bob#b.example"],
      subject: "VERP",
      text: "Hello Bob.",
    });
    assertEquals(byType(capture, "HELLO").server_id, "alice#postern.test");
  } finally {
    await w.close();
  }
});

Deno.test("issue15#16: a message with HTML goes as text/html (html_body), text only as text/plain", async () => {
  const w = await world();
  try {
    const contentOf = async (body: Record<string, unknown>) =>
      byType(
        await w.send({ from: ALICE.address, to: ["bob#b.example"], subject: "S", ...body }),
        "EMAIL_CONTENT",
      );
    const both = await contentOf({ text: "Hello Bob.", html: "<p>Hello <b>Bob</b>.</p>" });
    assertEquals(
      [both.content_type, both.html_body, both.body],
      ["text/html", "<p>Hello <b>Bob</b>.</p>", "Hello Bob."],
    );
    const htmlOnly = await contentOf({ html: "<h1>Hi</h1>" });
    assertEquals([htmlOnly.content_type, htmlOnly.html_body], ["text/html", "<h1>Hi</h1>"]);
    const plain = await contentOf({ text: "Just text" });
    assertEquals([plain.content_type, plain.html_body], ["text/plain", null]);
  } finally {
    await w.close();
  }
});

Deno.test("issue15#17: body bytes as written, no newline added; local parts in lower case", async () => {
  const w = await world();
  try {
    const capture = await w.send({
      from: "Alice@postern.test",
      to: ["Bob#B.example"],
      subject: "Plain",
      text: "Line one\nLine two",
    });
    assertEquals(byType(capture, "HELLO").server_id, "alice#postern.test");
    const mailTo = byType(capture, "MAIL_TO");
    assertEquals(mailTo.address, "bob#b.example");
    const stamp = checkStamp(String(mailTo.hashcash), {
      resource: "bob#b.example",
      minBits: BITS,
      now: Date.now(),
    });
    assert(stamp.ok, "the stamp is for the lower-case address");
    const content = byType(capture, "EMAIL_CONTENT");
    assertEquals(content.body, "Line one\nLine two", "no newline is added");
    const line = capture.lines.find((l) => l.includes('"EMAIL_CONTENT"'))!;
    assert(line.includes('"body":"Line one\\nLine two"'), line);
  } finally {
    await w.close();
  }
});

Deno.test("issue15#17: an address SHARP/1.3 cannot carry fails its row at once, with the reason", async () => {
  const dns = await startFakeDns({
    "_sharp._tcp.b.example": { SRV: ["10 5 5000 sharp.b.example"] },
    "sharp.b.example": { A: ["127.0.0.1"] },
  });
  const resolver = createResolver({ servers: [dns.server], timeoutMs: 2000, tries: 1 });
  const raw = (from: string) =>
    new TextEncoder().encode(
      `From: ${from}\r\nTo: bob@b.example\r\nSubject: x\r\nMIME-Version: 1.0\r\n` +
        `Content-Type: text/plain\r\n\r\nHi\r\n`,
    );
  // The From of each row's message, by row id (the envelope sender is the same here).
  const authors = new Map<number, string>();
  const item = (id: number, rcptTo: string, from: string): OutboxItem => {
    authors.set(id, from);
    return {
      id,
      mailFrom: from,
      rcptTo,
      domain: "b.example",
      attempts: 0,
      blobSha256: String(id),
      size: 100,
      messageId: null,
      expiresAt: new Date(Date.now() + 3600_000).toISOString(),
    };
  };
  const reports: [number, Result][] = [];
  const sent: SharpSendRequest[] = [];
  try {
    await deliverSharpDomain({
      resolver,
      hashcashBits: BITS,
      hostname: "mail.postern.test",
      logger: { log() {} },
      message: (i) => Promise.resolve(raw(authors.get(i.id)!)),
      report: (i, result) => Promise.resolve(void reports.push([i.id, result])),
      send: (request): Promise<SharpSendResult> => {
        sent.push(request);
        return Promise.resolve({ ok: true, transcript: [] });
      },
    }, {
      domain: "b.example",
      items: [
        item(1, "first.last+news@b.example", "alice@postern.test"),
        item(2, "a.very.long.name.over.twenty@b.example", "alice@postern.test"),
        item(3, "bob@b.example", "alice~x@postern.test"),
        item(4, "Bob@b.example", "alice@postern.test"),
      ],
    });
    const outcome = new Map(reports);
    const verdict = (id: number) => [outcome.get(id)?.outcome, outcome.get(id)?.enhanced];
    const why = (id: number) => outcome.get(id)?.message ?? "";
    assertEquals(verdict(1), ["failed", "5.1.3"]);
    assert(/recipient first\.last\+news@b\.example.*'\+'/.test(why(1)), why(1));
    assertEquals(verdict(2), ["failed", "5.1.3"]);
    assert(/28 characters.*at most 20/.test(why(2)), why(2));
    assertEquals(verdict(3), ["failed", "5.1.7"]);
    assert(/sender alice~x@postern\.test.*'~'/.test(why(3)), why(3));
    assertEquals(verdict(4)[0], "sent");
    assertEquals(sent.map((s) => [s.serverId, s.to]), [["alice#postern.test", "bob#b.example"]]);
  } finally {
    await dns.close();
  }
});
