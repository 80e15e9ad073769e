/**
 * Hostile corpus, user against domain and account against account (issue 15, items 4 and 5),
 * through the real HTTP API with bearer tokens. A plain user aims at the shared settings of its
 * own domain (suppression list, tracking, VERP) with its session and with its API keys; a domain
 * administrator aims past its domain; one account aims at another's uploads by id and by content
 * hash, and probes whether a file with a given hash exists anywhere on the server.
 */
import { eq } from "drizzle-orm";
import { sha256Hex } from "../../src/crypto.ts";
import { schema } from "../../src/store/store.ts";
import { assert, assertEquals } from "../fixtures/assert.ts";
import {
  ADMIN,
  ALICE,
  BOB,
  createTestGateway,
  DOMAIN,
  expectProblem,
  type TestGateway,
} from "../fixtures/app.ts";

// deno-lint-ignore no-explicit-any
type Json = any;

const OTHER = "other.test";

async function json(gw: TestGateway, method: string, path: string, token: string, body?: unknown) {
  const res = await gw.call(method, path, { token, body });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : undefined };
}

async function accountId(gw: TestGateway, admin: string, address: string): Promise<number> {
  const page = await json(gw, "GET", "/v1/admin/accounts?limit=500", admin);
  return page.body.items.find((a: Json) => a.address === address).id;
}

async function apiKey(gw: TestGateway, token: string, body: Json): Promise<string> {
  const res = await json(gw, "POST", "/v1/api-keys", token, body);
  assertEquals(res.status, 201, JSON.stringify(res.body));
  return res.body.key;
}

/** Every route that reads or changes a domain's shared state, aimed at `domain`. */
const domainRoutes = (domain: string): [string, string, unknown?][] => [
  ["GET", `/v1/domains/${domain}/suppressions`],
  ["GET", `/v1/domains/${domain.toUpperCase()}/suppressions?limit=500`],
  ["POST", `/v1/domains/${domain}/suppressions`, { address: "victim@remote.test" }],
  ["DELETE", `/v1/domains/${domain}/suppressions/kept@remote.test`],
  ["DELETE", `/v1/domains/${domain}/suppressions/KEPT%40remote.test`],
  ["GET", `/v1/domains/${domain}/sending`],
  ["PATCH", `/v1/domains/${domain}/sending`, { trackOpens: false, trackClicks: true, verp: true }],
];

async function expectDenied(gw: TestGateway, token: string, domain: string, label: string) {
  for (const [method, path, body] of domainRoutes(domain)) {
    const res = await gw.call(method, path, { token, body });
    const problem = await expectProblem(res, 403, "domain_admin_required").catch((e) => {
      throw new Error(`${label}: ${method} ${path}: ${e.message}`);
    });
    // `instance` echoes the path asked for; nothing else may show the list's content.
    const { instance: _, ...rest } = problem;
    assert(!/kept@remote/i.test(JSON.stringify(rest)), `${label}: ${method} ${path} leaks`);
  }
}

Deno.test("issue15#4: a plain user can neither read nor change its domain's suppression list and sending settings", async () => {
  const gw = await createTestGateway();
  try {
    const admin = await gw.login(ADMIN);
    assertEquals(
      (await json(gw, "POST", `/v1/domains/${DOMAIN}/suppressions`, admin, {
        address: "kept@remote.test",
      })).status,
      201,
    );
    assertEquals(
      (await json(gw, "PATCH", `/v1/domains/${DOMAIN}/sending`, admin, { trackOpens: true }))
        .status,
      200,
    );
    const alice = await gw.login(ALICE);
    // A key that sends as any address of the domain is a domain administrator's, not hers.
    await expectProblem(
      await gw.call("POST", "/v1/api-keys", {
        token: alice,
        body: { name: "app", scopes: ["send"], domains: [DOMAIN] },
      }),
      403,
      "forbidden",
    );
    const sendKey = await apiKey(gw, alice, { name: "app", scopes: ["send"] });
    const readSendKey = await apiKey(gw, alice, { name: "all", scopes: ["read", "send"] });
    await expectDenied(gw, alice, DOMAIN, "alice's session");
    await expectDenied(gw, sendKey, DOMAIN, "alice's domain key");
    await expectDenied(gw, readSendKey, DOMAIN, "alice's key");
    // Even an administrator's key needs the admin scope to act as one.
    const adminSendKey = await apiKey(gw, admin, {
      name: "app",
      scopes: ["send"],
      domains: [DOMAIN],
    });
    await expectDenied(gw, adminSendKey, DOMAIN, "the admin's send-only key");

    // Nothing changed.
    const list = await json(gw, "GET", `/v1/domains/${DOMAIN}/suppressions`, admin);
    assertEquals(list.body.suppressions.map((s: Json) => s.address), ["kept@remote.test"]);
    assertEquals((await json(gw, "GET", `/v1/domains/${DOMAIN}/sending`, admin)).body, {
      domain: DOMAIN,
      trackOpens: true,
      trackClicks: false,
      verp: false,
    });

    // A plain user still sends, and the domain's suppression list still applies to its mail.
    for (const token of [alice, sendKey]) {
      const sent = await json(gw, "POST", "/v1/emails", token, {
        from: ALICE.address,
        to: ["kept@remote.test", "ok@remote.test"],
        text: "hello",
      });
      assertEquals(sent.status, 201, JSON.stringify(sent.body));
      assertEquals(
        Object.fromEntries(sent.body.recipients.map((r: Json) => [r.address, r.status])),
        { "kept@remote.test": "suppressed", "ok@remote.test": "queued" },
      );
    }
  } finally {
    gw.close();
  }
});

Deno.test("issue15#4: a domain administrator manages its own domain only, and only while it holds the role", async () => {
  const gw = await createTestGateway();
  try {
    const admin = await gw.login(ADMIN);
    assertEquals((await json(gw, "POST", "/v1/admin/domains", admin, { name: OTHER })).status, 201);
    const aliceId = await accountId(gw, admin, ALICE.address);
    const alice = await gw.login(ALICE);

    // The role is granted by the administrator, and shown in the account's JSON.
    const bad = await gw.call("PATCH", `/v1/admin/accounts/${aliceId}`, {
      token: admin,
      body: { adminDomains: ["nowhere.test"] },
    });
    await expectProblem(bad, 422, "validation_failed");
    const self = await gw.call("PATCH", `/v1/admin/accounts/${aliceId}`, {
      token: alice,
      body: { adminDomains: [DOMAIN] },
    });
    assertEquals(self.status, 403, "only the administrator grants the role");
    const granted = await json(gw, "PATCH", `/v1/admin/accounts/${aliceId}`, admin, {
      adminDomains: [DOMAIN.toUpperCase()],
    });
    assertEquals(granted.status, 200, JSON.stringify(granted.body));
    assertEquals(granted.body.adminDomains, [DOMAIN]);
    assertEquals(
      (await json(gw, "GET", `/v1/admin/accounts/${aliceId}`, admin)).body.adminDomains,
      [DOMAIN],
    );

    assertEquals((await json(gw, "GET", "/v1/auth/me", alice)).body.adminDomains, [DOMAIN]);

    // Her session now manages her domain…
    assertEquals(
      (await json(gw, "POST", `/v1/domains/${DOMAIN}/suppressions`, alice, {
        address: "kept@remote.test",
      })).status,
      201,
    );
    assertEquals(
      (await json(gw, "PATCH", `/v1/domains/${DOMAIN}/sending`, alice, { verp: true })).body.verp,
      true,
    );
    // …but not another domain, not the server's administration, and Bob is still refused.
    await expectDenied(gw, alice, OTHER, "domain admin, other domain");
    // The account list is hers for her own domain only (issue 18's console); the audit log and
    // server settings stay the server administrator's.
    const listed = await json(gw, "GET", "/v1/admin/accounts", alice);
    assertEquals(listed.status, 200);
    const addresses = (listed.body.items as { address: string }[]).map((a) => a.address);
    assert(
      addresses.length > 0 && addresses.every((a) => a.endsWith(`@${DOMAIN}`)),
      addresses.join(),
    );
    assertEquals((await gw.call("GET", "/v1/admin/audit", { token: alice })).status, 403);
    await expectDenied(gw, await gw.login(BOB), DOMAIN, "bob");

    // API keys: the admin scope is now hers to give, for her domains only; a key without it
    // acts as a plain user.
    await expectProblem(
      await gw.call("POST", "/v1/api-keys", {
        token: alice,
        body: { name: "x", scopes: ["admin"], domains: [OTHER] },
      }),
      403,
      "forbidden",
    );
    const adminKey = await apiKey(gw, alice, {
      name: "ops",
      scopes: ["send", "admin"],
      domains: [DOMAIN],
    });
    const sendKey = await apiKey(gw, alice, { name: "app", scopes: ["send"] });
    assertEquals(
      (await json(gw, "GET", `/v1/domains/${DOMAIN}/suppressions`, adminKey)).status,
      200,
    );
    await expectDenied(gw, sendKey, DOMAIN, "domain admin's send-only key");
    await expectDenied(gw, adminKey, OTHER, "domain admin's key, other domain");
    // Her admin key lists her domain's accounts as her session does, and no server settings.
    const byKey = await json(gw, "GET", "/v1/admin/accounts", adminKey);
    assertEquals(byKey.status, 200);
    assert(
      (byKey.body.items as { address: string }[]).every((a) => a.address.endsWith(`@${DOMAIN}`)),
    );
    assertEquals((await gw.call("GET", "/v1/admin/audit", { token: adminKey })).status, 403);
    // A key restricted to her domain sends as any of its addresses while she administers it.
    const asBob = { from: BOB.address, to: ["x@remote.test"], text: "from the domain's key" };
    assertEquals((await json(gw, "POST", "/v1/emails", adminKey, asBob)).status, 201);
    await expectProblem(
      await gw.call("POST", "/v1/emails", { token: sendKey, body: asBob }),
      403,
      "sender_not_allowed",
    );

    // Taking the role away takes it from her session and her keys at once.
    const revoked = await json(gw, "PATCH", `/v1/admin/accounts/${aliceId}`, admin, {
      adminDomains: [],
    });
    assertEquals(revoked.body.adminDomains, []);
    await expectDenied(gw, alice, DOMAIN, "former domain admin");
    await expectDenied(gw, adminKey, DOMAIN, "former domain admin's key");
    await expectProblem(
      await gw.call("POST", "/v1/emails", { token: adminKey, body: asBob }),
      403,
      "sender_not_allowed",
    );
  } finally {
    gw.close();
  }
});

// --- Item 5: uploads ---

const enc = new TextEncoder();

async function upload(gw: TestGateway, token: string, bytes: Uint8Array): Promise<string> {
  const res = await gw.call("POST", "/v1/emails/attachments", {
    token,
    body: bytes,
    headers: { "content-type": "application/octet-stream" },
  });
  assertEquals(res.status, 201, await res.clone().text());
  return (await res.json()).blobId;
}

function sendWith(gw: TestGateway, token: string, from: string, blobId: string) {
  return gw.call("POST", "/v1/emails", {
    token,
    body: {
      from,
      to: ["someone@remote.test"],
      text: "attached",
      attachments: [{ filename: "f.bin", blobId }],
    },
  });
}

/** The same characters, every hex digit changed: an id of the same shape that was never issued. */
const forged = (id: string) =>
  id.replace(/[0-9a-f](?=[0-9a-f]*$)/g, (c) => (c === "0" ? "1" : "0"));

Deno.test("issue15#5: Bob can neither attach Alice's upload by id or hash nor learn that it exists", async () => {
  const gw = await createTestGateway();
  try {
    const alice = await gw.login(ALICE);
    const bob = await gw.login(BOB);
    const secret = enc.encode("alice's payroll: zanzibar 4200\n");
    const id = await upload(gw, alice, secret);
    assertEquals((await sendWith(gw, alice, ALICE.address, id)).status, 201);
    const hash = await sha256Hex(secret);
    const unknownHash = await sha256Hex(enc.encode("never uploaded"));

    const answers: Record<string, string> = {};
    for (
      const [label, blobId] of [
        ["alice's id", id],
        ["forged id", forged(id)],
        ["alice's hash", hash],
        ["unknown hash", unknownHash],
      ]
    ) {
      const res = await sendWith(gw, bob, BOB.address, blobId);
      const text = await res.text();
      assert(res.status === 422 || res.status === 404, `${label}: ${res.status} ${text}`);
      assert(!/zanzibar|alice/i.test(text), `${label} leaks: ${text}`);
      answers[label] = `${res.status} ${text}`;
    }
    // "Not yours" and "does not exist" are one answer, byte for byte.
    assertEquals(answers["alice's id"], answers["forged id"]);
    assertEquals(answers["alice's hash"], answers["unknown hash"]);
    // Bob's refused sends left nothing behind.
    const bobSent = await gw.deps.store.db.select().from(schema.txMessages)
      .where(eq(schema.txMessages.fromAddress, BOB.address));
    assertEquals(bobSent.length, 0);

    // No route hands out a blob by its id or hash.
    for (
      const path of [
        `/v1/emails/attachments/${id}`,
        `/v1/emails/attachments/${hash}`,
        `/v1/blobs/${hash}`,
        `/v1/blobs/${id}`,
      ]
    ) {
      const res = await gw.call("GET", path, { token: bob });
      const text = await res.text();
      assert(res.status === 404 || res.status === 405, `${path}: ${res.status}`);
      assert(!/zanzibar/.test(text), `${path} leaks`);
    }
    // Hostile ids: refused as invalid, never looked up as paths or SQL.
    for (
      const blobId of ["../" + hash, `${id}' OR '1'='1`, id.toUpperCase(), "", "x".repeat(5000)]
    ) {
      const res = await sendWith(gw, bob, BOB.address, blobId);
      assertEquals(res.status, 422, blobId.slice(0, 40));
    }
  } finally {
    gw.close();
  }
});

Deno.test("issue15#5: identical bytes uploaded by two accounts give each its own id over one stored copy", async () => {
  const gw = await createTestGateway();
  try {
    const alice = await gw.login(ALICE);
    const bob = await gw.login(BOB);
    const bytes = enc.encode("the same quarterly report\n");
    const aliceId = await upload(gw, alice, bytes);
    const bobId = await upload(gw, bob, bytes);
    assert(aliceId !== bobId, "each account gets its own id");
    assertEquals(await upload(gw, alice, bytes), aliceId, "an account's re-upload is idempotent");
    assertEquals((await sendWith(gw, bob, BOB.address, bobId)).status, 201);
    assertEquals((await sendWith(gw, alice, ALICE.address, aliceId)).status, 201);
    // Each is refused the other's id.
    assertEquals((await sendWith(gw, alice, ALICE.address, bobId)).status, 422);
    const stored = await gw.deps.store.db.select({ sha: schema.blobs.sha256 }).from(schema.blobs)
      .where(eq(schema.blobs.sha256, await sha256Hex(bytes)));
    assertEquals(stored.length, 1, "storage holds one copy");

    // Deleting Bob (and his upload) leaves Alice's upload usable.
    const admin = await gw.login(ADMIN);
    const bobAccount = await accountId(gw, admin, BOB.address);
    assertEquals(
      (await gw.call("DELETE", `/v1/admin/accounts/${bobAccount}`, { token: admin })).status,
      204,
    );
    assertEquals((await sendWith(gw, alice, ALICE.address, aliceId)).status, 201);
  } finally {
    gw.close();
  }
});
