/**
 * Attachments by URL and inline images (issue 19 item 5): `path` is fetched through the
 * SSRF-safe fetcher when the send is made, `contentId` makes a part inline (multipart/related,
 * `Content-ID`), and every failure (redirect, error status, private address, too large) refuses
 * the send with the attachment's field named and writes nothing. Resend's SDK (`path`,
 * `contentId`) reaches the same path.
 */
import { queuedRaw } from "./fixtures/tx_sent.ts";
import { Resend } from "resend";
import { listen } from "../hosts/process/serve.ts";
import { schema } from "../src/store/store.ts";
import { assert, assertEquals } from "./fixtures/assert.ts";
import { ALICE, createTestGateway, expectProblem, type TestGateway } from "./fixtures/app.ts";
import { startFakeDns } from "./fixtures/fake_dns.ts";

const PDF = new TextEncoder().encode("%PDF-1.4 a tiny report");
const PNG = Uint8Array.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 1, 2, 3]);

function fileServer() {
  const hits: string[] = [];
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, (req) => {
    const path = new URL(req.url).pathname;
    hits.push(path);
    if (path === "/files/report%20q3.pdf") {
      return new Response(PDF, { headers: { "content-type": "application/pdf; name=x" } });
    }
    if (path === "/logo.png") {
      return new Response(PNG, { headers: { "content-type": "image/png" } });
    }
    if (path === "/moved") {
      return new Response(null, { status: 302, headers: { location: "/logo.png" } });
    }
    if (path === "/huge") return new Response(new Uint8Array(64 * 1024));
    return new Response("no", { status: 404 });
  });
  return { hits, server, base: `http://127.0.0.1:${server.addr.port}` };
}

/** Alice sends one email whose only attachment is the file at `path`. */
async function sendWithPath(gw: TestGateway, path: string) {
  return await gw.call("POST", "/v1/emails", {
    token: await gw.login(ALICE),
    body: {
      from: ALICE.address,
      to: ["carol@remote.test"],
      subject: "x",
      text: "x",
      attachments: [{ path }],
    },
  });
}

const b64 = (bytes: Uint8Array) => btoa(String.fromCharCode(...bytes));

Deno.test("issue19#5: attachments by URL are fetched and inline images go multipart/related", async () => {
  const files = fileServer();
  const gw = await createTestGateway({ attachmentFetchAllowPrivate: true });
  try {
    const alice = await gw.login(ALICE);
    const res = await gw.call("POST", "/v1/emails", {
      token: alice,
      body: {
        from: ALICE.address,
        to: ["carol@remote.test"],
        subject: "Report",
        html: '<p>Logo: <img src="cid:logo@app"></p>',
        attachments: [
          { path: `${files.base}/files/report%20q3.pdf` },
          { path: `${files.base}/logo.png`, contentId: "logo@app", filename: "logo.png" },
        ],
      },
    });
    assertEquals(res.status, 201, await res.clone().text());
    const raw = await queuedRaw(gw, (await res.json()).emailId);
    assert(/Content-Type: multipart\/related/i.test(raw), raw);
    assert(/Content-ID: <logo@app>/i.test(raw), raw);
    assert(/Content-Disposition: inline/i.test(raw), raw);
    assert(/Content-Type: application\/pdf/i.test(raw), "the response's type, parameters dropped");
    assert(raw.includes("report q3.pdf"), "the filename comes from the URL, decoded");
    assert(raw.includes(b64(PDF)) && raw.includes(b64(PNG)), "both files' bytes");
  } finally {
    gw.close();
    await files.server.shutdown();
  }
});

Deno.test("issue19#5: a URL that redirects, fails, is too large or private refuses the send and writes nothing", async () => {
  const files = fileServer();
  const open = await createTestGateway({
    attachmentFetchAllowPrivate: true,
    maxMessageBytes: 32 * 1024,
  });
  const strict = await createTestGateway();
  try {
    const field = async (res: Response, status: number, code: string) => {
      const body = await expectProblem(res, status, code);
      return body;
    };
    const moved = await field(
      await sendWithPath(open, `${files.base}/moved`),
      422,
      "validation_failed",
    );
    assertEquals(moved.errors[0].path, "attachments.0.path");
    assert(/redirect/.test(moved.errors[0].message));
    const missing = await field(
      await sendWithPath(open, `${files.base}/nothing`),
      422,
      "validation_failed",
    );
    assert(/404/.test(missing.errors[0].message));
    await field(await sendWithPath(open, `${files.base}/huge`), 413, "message_too_large");
    assertEquals((await open.deps.store.db.select().from(schema.txMessages)).length, 0);

    // Without the operator's switch, loopback and metadata addresses are never fetched.
    const before = files.hits.length;
    for (
      const url of [
        `${files.base}/logo.png`,
        "http://169.254.169.254/latest/meta-data/",
        "file:///etc/passwd",
      ]
    ) {
      const res = await sendWithPath(strict, url);
      assertEquals(res.status, 422, await res.clone().text());
      await res.body?.cancel();
    }
    assertEquals(files.hits.length, before, "no request reached the private server");
    assertEquals((await strict.deps.store.db.select().from(schema.txMessages)).length, 0);
  } finally {
    open.close();
    strict.close();
    await files.server.shutdown();
  }
});

Deno.test("issue19#5: attachment URLs naming loopback or private addresses, by any spelling or by DNS, are never fetched", async () => {
  const files = fileServer();
  const port = files.server.addr.port;
  // A public-looking name whose A record points at the loopback file server (DNS rebinding).
  const dns = await startFakeDns({
    "files.example.com": { A: ["127.0.0.1"] },
    "intranet.example.com": { A: ["10.1.2.3"] },
  });
  const gw = await createTestGateway({ dnsServers: dns.server });
  try {
    for (
      const url of [
        `http://files.example.com:${port}/logo.png`,
        `http://intranet.example.com:${port}/logo.png`,
        `http://127.1:${port}/logo.png`,
        `http://0x7f000001:${port}/logo.png`,
        `http://[::1]:${port}/logo.png`,
        `http://[::ffff:127.0.0.1]:${port}/logo.png`,
        `http://192.168.1.1:${port}/logo.png`,
        `http://localhost:${port}/logo.png`,
      ]
    ) {
      const problem = await expectProblem(await sendWithPath(gw, url), 422, "validation_failed");
      assertEquals(problem.errors[0].path, "attachments.0.path", url);
    }
    assertEquals(files.hits, [], "no request reached the loopback server");
    assertEquals((await gw.deps.store.db.select().from(schema.txMessages)).length, 0);
  } finally {
    gw.close();
    await dns.close();
    await files.server.shutdown();
  }
});

Deno.test("issue19#5: Resend's SDK sends an attachment by path and an inline image by contentId", async () => {
  const files = fileServer();
  const gw = await createTestGateway({ attachmentFetchAllowPrivate: true });
  const listener = await listen((req) => gw.app.fetch(req), { hostname: "127.0.0.1", port: 0 });
  try {
    const created = await gw.call("POST", "/v1/api-keys", {
      token: await gw.login(ALICE),
      body: { name: "sdk", scopes: ["send", "read"] },
    });
    const resend = new Resend((await created.json()).key, {
      baseUrl: `http://127.0.0.1:${listener.port}`,
    });
    const sent = await resend.emails.send({
      from: ALICE.address,
      to: "carol@remote.test",
      subject: "SDK",
      html: '<img src="cid:pic">',
      attachments: [
        { path: `${files.base}/files/report%20q3.pdf`, filename: "q3.pdf" },
        { content: b64(PNG), filename: "pic.png", contentId: "pic" },
      ],
    });
    assertEquals(sent.error, null, JSON.stringify(sent.error));
    const raw = await queuedRaw(gw, sent.data!.id);
    assert(raw.includes("q3.pdf") && raw.includes(b64(PDF)), raw);
    assert(/Content-ID: <pic>/i.test(raw), raw);
  } finally {
    await listener.shutdown();
    gw.close();
    await files.server.shutdown();
  }
});
