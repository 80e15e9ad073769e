/**
 * The bridge routes' direct entry (src/routes/bridge_direct.ts), which `postern serve` hands to
 * its in-process bridge instead of HTTP: every answer — verdicts, per-recipient results, and
 * each refusal's status and problem body — is the one the HTTP route gives for the same call.
 */
import { blobBytes } from "../src/services/blob_chunks.ts";
import { assert, assertEquals } from "./fixtures/assert.ts";
import { ADMIN, ALICE, BOB, createTestGateway, DOMAIN } from "./fixtures/app.ts";
import { encodeMail, MAIL_MEDIA_TYPE } from "../schemas/bridge.ts";
import { bridgeDirect } from "../src/routes/bridge_direct.ts";
import { schema } from "../src/store/store.ts";
import { GatewayClient } from "../bridge/gateway_client.ts";

type Gateway = Awaited<ReturnType<typeof createTestGateway>>;

async function key(gw: Gateway, scopes: string[]): Promise<string> {
  const res = await gw.call("POST", "/v1/api-keys", {
    token: await gw.login(ADMIN),
    body: { name: "bridge", scopes },
  });
  assertEquals(res.status, 201);
  return (await res.json()).key;
}

const raw = (id: string) =>
  new TextEncoder().encode(
    `From: Zed <zed@remote.example>\r\nTo: ${ALICE.address}\r\nSubject: direct\r\n` +
      `Message-ID: <${id}@remote.example>\r\n\r\nHello.\r\n`,
  );
const trace = new TextEncoder().encode("Received: from mx.remote.example\r\n");

const inbound = (recipients: string[]) => ({
  mailFrom: "zed@remote.example",
  recipients,
  clientIp: "198.51.100.7",
  helo: "mx.remote.example",
  tls: false,
  junk: false,
});

/** The HTTP route's answer, as status and JSON body (without the request's `instance`). */
async function overHttp(
  gw: Gateway,
  path: string,
  apiKey: string,
  body: { json?: unknown; mail?: { envelope: unknown; parts: Uint8Array[] } },
) {
  const res = await gw.app.request(path, {
    method: "POST",
    headers: {
      authorization: `Bearer ${apiKey}`,
      "content-type": body.mail ? MAIL_MEDIA_TYPE : "application/json",
    },
    body: body.mail
      ? encodeMail(body.mail.envelope, body.mail.parts[1], body.mail.parts[0])
      : JSON.stringify(body.json),
  });
  const json = await res.json();
  delete json.instance;
  return { status: res.status, body: json };
}

Deno.test("issue20#1: the direct entry answers every bridge call as its HTTP route does", async () => {
  const gw = await createTestGateway();
  try {
    const direct = bridgeDirect(gw.deps);
    const bridge = await key(gw, ["bridge"]);
    const sendOnly = await key(gw, ["send"]);
    const cases: [
      string,
      string,
      { json?: unknown; mail?: { envelope: unknown; parts: Uint8Array[] } },
    ][] = [
      ["/v1/bridge/recipient", bridge, { json: { recipient: ALICE.address } }],
      ["/v1/bridge/recipient", bridge, { json: { recipient: `ghost@${DOMAIN}` } }],
      ["/v1/bridge/recipient", bridge, { json: { recipient: "victim@elsewhere.example" } }],
      ["/v1/bridge/recipient", bridge, { json: { recipient: 42 } }],
      ["/v1/bridge/recipient", "pst_not_a_key", { json: { recipient: ALICE.address } }],
      ["/v1/bridge/recipient", sendOnly, { json: { recipient: ALICE.address } }],
      ["/v1/bridge/inbound", bridge, {
        mail: { envelope: { recipients: "x" }, parts: [trace, raw("bad")] },
      }],
      ["/v1/bridge/inbound", sendOnly, {
        mail: { envelope: inbound([ALICE.address]), parts: [trace, raw("s")] },
      }],
      [
        "/v1/bridge/inbound",
        bridge,
        { mail: { envelope: inbound([`ghost@${DOMAIN}`]), parts: [trace, raw("g")] } },
      ],
      [
        "/v1/bridge/submission",
        bridge,
        {
          mail: {
            envelope: { mailFrom: ALICE.address, recipients: [], authenticatedAs: ALICE.address },
            parts: [trace, raw("sub")],
          },
        },
      ],
    ];
    for (const [path, apiKey, body] of cases) {
      const expected = await overHttp(gw, path, apiKey, body);
      const got = await direct.call({ path, apiKey, ...body });
      assertEquals(got, expected, `${path} ${JSON.stringify(body.json ?? body.mail?.envelope)}`);
    }

    // A delivery: the same results, and the message handed in twice is stored once.
    const envelope = { ...inbound([ALICE.address, BOB.address]), traceBytes: trace.byteLength };
    const first = await direct.call({
      path: "/v1/bridge/inbound",
      apiKey: bridge,
      mail: { envelope, parts: [trace, raw("once")] },
    });
    assertEquals(first.status, 200);
    assertEquals(
      (first.body.results as { status: string }[]).map((r) => r.status),
      ["delivered", "delivered"],
    );
    const again = await overHttp(gw, "/v1/bridge/inbound", bridge, {
      mail: { envelope, parts: [trace, raw("once")] },
    });
    assertEquals(again.body.results.map((r: { status: string }) => r.status), [
      "duplicate",
      "duplicate",
    ]);
    const stored = await gw.deps.store.db.select().from(schema.messages);
    assertEquals(stored.filter((m) => m.messageIdHeader === "<once@remote.example>").length, 2);
  } finally {
    gw.close();
  }
});

Deno.test("issue20#1: the bridge's client takes the direct entry for its calls and HTTP for the rest", async () => {
  const gw = await createTestGateway();
  try {
    const apiKey = await key(gw, ["bridge"]);
    const direct = bridgeDirect(gw.deps);
    const seen: string[] = [];
    const client = new GatewayClient("http://in-process.postern", apiKey, (r) => {
      seen.push(new URL(r.url).pathname);
      return gw.app.fetch(r);
    }, { direct });
    assertEquals(await client.checkRecipient(ALICE.address), { accept: true, local: true });
    const delivered = await client.inbound(inbound([ALICE.address]), raw("client"), trace);
    assertEquals(delivered.results.map((r) => r.status), ["delivered"]);
    // The stored message is the trace fields, the gateway's X-Spam fields (issue 21 item 1),
    // then the message, byte for byte.
    const [row] = await gw.deps.store.db.select().from(schema.messages);
    const [blob] = await gw.deps.store.db.select().from(schema.blobs);
    const stored = await blobBytes(gw.deps.store.db, blob);
    const spam = stored.byteLength - trace.byteLength - raw("client").byteLength;
    assertEquals(row.size, stored.byteLength);
    assertEquals(stored.subarray(0, trace.byteLength), trace);
    assertEquals(stored.subarray(trace.byteLength + spam), raw("client"));
    const fields = new TextDecoder().decode(
      stored.subarray(trace.byteLength, trace.byteLength + spam),
    );
    assert(
      /^X-Spam-Status: No, score=\S+ required=5\.0 tests=[^\r]*\r\nX-Spam-Score: \S+\r\n$/.test(
        fields,
      ),
      fields,
    );
    // A refusal arrives as the same GatewayError as over HTTP; AUTH still goes over HTTP.
    const refused = await client.inbound({
      ...inbound([ALICE.address]),
      helo: 5 as unknown as string,
    }, raw("x"))
      .catch((e) => e);
    assertEquals([refused.status, refused.code], [422, "validation_failed"]);
    assertEquals(
      (await client.authenticate(ALICE.address, ALICE.password, "192.0.2.1", "smtp"))?.address,
      ALICE.address,
    );
    assertEquals(seen, ["/v1/bridge/auth"]);
  } finally {
    gw.close();
  }
});
