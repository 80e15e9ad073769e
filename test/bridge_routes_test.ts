import { assert, assertEquals } from "./fixtures/assert.ts";
import { ADMIN, ALICE, BOB, createTestGateway, DOMAIN } from "./fixtures/app.ts";
import { schema } from "../src/store/store.ts";
import { decodeMail, encodeMail, MAIL_MEDIA_TYPE } from "../schemas/bridge.ts";

async function bridgeKey(gw: Awaited<ReturnType<typeof createTestGateway>>, scopes = ["bridge"]) {
  const admin = await gw.login(ADMIN);
  const res = await gw.call("POST", "/v1/api-keys", {
    token: admin,
    body: { name: "bridge", scopes },
  });
  assertEquals(res.status, 201, await res.clone().text());
  return (await res.json()).key as string;
}

function mailForm(envelope: unknown, raw: string): Uint8Array<ArrayBuffer> {
  return encodeMail(envelope, new TextEncoder().encode(raw));
}

const MAIL = { "content-type": MAIL_MEDIA_TYPE };

const RAW = "From: Zed <zed@remote.example>\r\nTo: alice@postern.test\r\nSubject: via MX\r\n" +
  "Message-ID: <mx1@remote.example>\r\n\r\nHello over SMTP.\r\n";

Deno.test("bridge: credentials, recipient checks (no open relay), inbound and submission", async () => {
  const gw = await createTestGateway();
  const key = await bridgeKey(gw);
  const post = (path: string, body: unknown) => gw.call("POST", path, { token: key, body });

  const good = await post("/v1/bridge/auth", {
    username: ALICE.address,
    secret: ALICE.password,
    protocol: "imap",
    clientIp: "192.0.2.1",
  });
  assertEquals(good.status, 200);
  assertEquals((await good.json()).address, ALICE.address);
  const bad = await post("/v1/bridge/auth", {
    username: ALICE.address,
    secret: "wrong-wrong",
    protocol: "imap",
    clientIp: "192.0.2.1",
  });
  assertEquals(bad.status, 401);
  await bad.body?.cancel();

  const verdict = async (recipient: string, authenticatedAs?: string) =>
    await (await post("/v1/bridge/recipient", { recipient, authenticatedAs })).json();
  assertEquals(await verdict(ALICE.address), { accept: true, local: true });
  assertEquals((await verdict(`alice+tag@${DOMAIN}`)).accept, true);
  assertEquals((await verdict(`ghost@${DOMAIN}`)).code, "no_such_recipient");
  assertEquals((await verdict("victim@elsewhere.example")).code, "relay_denied");
  assertEquals(await verdict("friend@elsewhere.example", ALICE.address), {
    accept: true,
    local: false,
  });

  const inbound = await gw.app.request("/v1/bridge/inbound", {
    method: "POST",
    headers: { authorization: `Bearer ${key}`, ...MAIL },
    body: mailForm({
      mailFrom: "zed@remote.example",
      recipients: [ALICE.address],
      clientIp: "198.51.100.7",
      helo: "mx.remote.example",
      tls: true,
    }, RAW),
  });
  assertEquals(inbound.status, 200, await inbound.clone().text());
  assertEquals((await inbound.json()).results[0].status, "delivered");
  const [stored] = await gw.deps.store.db.select().from(schema.messages);
  assertEquals(JSON.parse(stored.parsed).authentication.clientIp, "198.51.100.7");

  const submitted = await gw.app.request("/v1/bridge/submission", {
    method: "POST",
    headers: { authorization: `Bearer ${key}`, ...MAIL },
    body: mailForm(
      {
        mailFrom: ALICE.address,
        recipients: [BOB.address, "far@away.example"],
        authenticatedAs: ALICE.address,
        clientIp: "192.0.2.9",
      },
      `From: ${ALICE.address}\r\nTo: ${BOB.address}\r\nSubject: sub\r\nMessage-ID: <s1@postern.test>\r\n\r\nhi\r\n`,
    ),
  });
  assertEquals(submitted.status, 200, await submitted.clone().text());
  const statuses = (await submitted.json()).results.map((r: { status: string }) => r.status);
  assertEquals(statuses, ["delivered", "queued"]);

  const forged = await gw.app.request("/v1/bridge/submission", {
    method: "POST",
    headers: { authorization: `Bearer ${key}`, ...MAIL },
    body: mailForm(
      {
        mailFrom: ALICE.address,
        recipients: [BOB.address],
        authenticatedAs: ALICE.address,
        clientIp: "192.0.2.9",
      },
      `From: ${BOB.address}\r\nTo: ${BOB.address}\r\nSubject: forged\r\n\r\nhi\r\n`,
    ),
  });
  assertEquals(forged.status, 403);
  assertEquals((await forged.json()).code, "sender_not_allowed");

  const broken = await gw.app.request("/v1/bridge/inbound", {
    method: "POST",
    headers: { authorization: `Bearer ${key}`, ...MAIL },
    body: mailForm({ mailFrom: "x@y.example", recipients: [] }, RAW),
  });
  assertEquals(broken.status, 422);
  assert((await broken.json()).errors.length >= 1);
  gw.close();
});

Deno.test("bridge routes refuse keys without the bridge scope and non-admins cannot mint them", async () => {
  const gw = await createTestGateway();
  const readKey = await bridgeKey(gw, ["read"]);
  const res = await gw.call("POST", "/v1/bridge/recipient", {
    token: readKey,
    body: { recipient: ALICE.address },
  });
  assertEquals(res.status, 403);
  await res.body?.cancel();
  const alice = await gw.login(ALICE);
  const mint = await gw.call("POST", "/v1/api-keys", {
    token: alice,
    body: { name: "b", scopes: ["bridge"] },
  });
  assertEquals(mint.status, 403);
  await mint.body?.cancel();
  gw.close();
});

Deno.test("bridge hand-in: wrong media type 415, no envelope line or bad JSON 400, bad fields 422", async () => {
  // The hand-in's bytes as stored: no X-Spam fields (issue 21) from a spam verdict here.
  const gw = await createTestGateway({ spamEnabled: false });
  const key = await bridgeKey(gw);
  const send = (body: BodyInit, type = MAIL_MEDIA_TYPE) =>
    gw.app.request("/v1/bridge/inbound", {
      method: "POST",
      headers: { authorization: `Bearer ${key}`, "content-type": type },
      body,
    });
  const problem = async (res: Response) => ({ status: res.status, ...(await res.json()) });

  const form = new FormData();
  form.set("envelope", "{}");
  const multipart = await gw.app.request("/v1/bridge/inbound", {
    method: "POST",
    headers: { authorization: `Bearer ${key}` },
    body: form,
  });
  assertEquals((await problem(multipart)).status, 415);
  assertEquals((await problem(await send("no line feed at all"))).code, "bad_request");
  assertEquals((await problem(await send("{not json\nFrom: x\r\n\r\n"))).code, "invalid_json");
  const fields = await problem(
    await send(mailForm({ mailFrom: "x@y.example", recipients: ["a@b"], clientIp: 7 }, RAW)),
  );
  assertEquals(fields.status, 422);
  assert(fields.errors.some((e: { path: string }) => e.path.startsWith("envelope")));

  // A CR before the LF is JSON whitespace; the message starts right after the LF, byte for byte.
  const envelope = JSON.stringify({
    mailFrom: "zed@remote.example",
    recipients: [ALICE.address],
    clientIp: "198.51.100.7",
  });
  const ok = await send(`${envelope}\r\n${RAW}`);
  assertEquals(ok.status, 200, await ok.clone().text());
  assertEquals((await ok.json()).results[0].status, "delivered");
  const [stored] = await gw.deps.store.db.select().from(schema.messages);
  assertEquals(stored.size, RAW.length);
  gw.close();
});

Deno.test("mail body codec: the envelope line survives LFs in its strings, the message byte for byte", () => {
  const envelope = { mailFrom: "a@b.example", helo: "x\ny\r\n", authentication: { t: "\n\n" } };
  const raw = new Uint8Array([0, 10, 13, 10, 46, 255]);
  const head = new TextEncoder().encode("Received: x\r\n");
  const decoded = decodeMail(encodeMail(envelope, raw, head));
  assert(decoded.ok);
  assertEquals(decoded.envelope, envelope);
  assertEquals(decoded.raw, new Uint8Array([...head, ...raw]));
});

Deno.test("bridge hand-in: small bodies read whole and large ones streamed both refuse a wrong Content-Length and store the message byte for byte", async () => {
  // The hand-in's bytes as stored: no X-Spam fields (issue 21) from a spam verdict here.
  const gw = await createTestGateway({ spamEnabled: false });
  const key = await bridgeKey(gw);
  const envelope = {
    mailFrom: "zed@remote.example",
    recipients: [ALICE.address],
    clientIp: "198.51.100.7",
  };
  const hand = (body: Uint8Array<ArrayBuffer> | ReadableStream<Uint8Array>, length: number) =>
    gw.app.request("/v1/bridge/inbound", {
      method: "POST",
      headers: {
        authorization: `Bearer ${key}`,
        ...MAIL,
        "content-length": String(length),
      },
      body,
      duplex: "half",
    } as RequestInit);
  const streamOf = (bytes: Uint8Array) =>
    new ReadableStream<Uint8Array>({
      start(c) {
        c.enqueue(bytes);
        c.close();
      },
    });
  // 300 KiB: past the size up to which bodies are read in one piece.
  const large = `${RAW.replace("mx1@", "mx-large@")}${"0123456789abcdef".repeat(19_200)}\r\n`;
  for (const [label, raw] of [["small", RAW], ["large", large]] as const) {
    const body = mailForm(envelope, raw);
    for (const declared of [body.byteLength + 1, body.byteLength - 1]) {
      const res = await hand(streamOf(body), declared);
      assertEquals(res.status, 400, `${label}, declared ${declared}: ${await res.clone().text()}`);
      assertEquals((await res.json()).code, "bad_request");
    }
    const ok = await hand(streamOf(body), body.byteLength);
    assertEquals(ok.status, 200, await ok.clone().text());
    assertEquals((await ok.json()).results[0].status, "delivered");
  }
  const sizes = (await gw.deps.store.db.select().from(schema.messages)).map((m) => m.size).sort();
  assertEquals(sizes, [RAW.length, large.length].sort());
  gw.close();
});
