/**
 * Forwarding through the gateway's HTTP interface (issue 21 item 3): an alias to a remote
 * address and an account's own forwarding queue their copies with an SRS envelope sender and an
 * ARC seal request; the bridge's RCPT check takes an SRS address only while its hash and age
 * hold, and a bounce to one goes on to the original sender with a null sender. The bridge's
 * claim hands the seal request to the outbound worker. (The whole path against a real Postfix
 * that checks SPF: forwarding_postfix_test.ts.) The alias and account tests run on every store
 * engine (embedded file, remote libSQL over HTTP and WebSocket, D1).
 */
import { assert, assertEquals, assertMatch } from "./fixtures/assert.ts";
import { ADMIN, ALICE, BOB, createTestGateway, DOMAIN, type TestGateway } from "./fixtures/app.ts";
import { bridgeKey } from "./fixtures/bridge.ts";
import { encodeMail, MAIL_MEDIA_TYPE } from "../schemas/bridge.ts";
import { schema } from "../src/store/store.ts";
import { OutboxClient } from "../bridge/smtp_out/outbox_client.ts";
import { storeTest } from "./fixtures/store.ts";

const VERDICTS = {
  spf: { result: "pass", domain: "sender.example" },
  dkim: [{
    result: "pass",
    domain: "sender.example",
    selector: "s1",
    algo: "rsa-sha256",
    aligned: true,
  }],
  dmarc: { result: "pass", policy: "reject", domain: "sender.example" },
  arc: { result: "none" },
  disposition: "accept",
};

const raw = (id: string) =>
  `From: Zed <zed@sender.example>\r\nTo: list@${DOMAIN}\r\nSubject: forwarded\r\n` +
  `Message-ID: <${id}@sender.example>\r\n\r\nHello.\r\n`;

async function world() {
  const gw = await createTestGateway();
  const key = await bridgeKey(gw);
  const admin = await gw.login(ADMIN);
  const inbound = async (
    recipients: string[],
    opts: { mailFrom?: string; id?: string; junk?: boolean; authentication?: unknown } = {},
  ) => {
    const res = await gw.app.request("/v1/bridge/inbound", {
      method: "POST",
      headers: { authorization: `Bearer ${key}`, "content-type": MAIL_MEDIA_TYPE },
      body: encodeMail({
        mailFrom: opts.mailFrom ?? "zed@sender.example",
        recipients,
        clientIp: "198.51.100.7",
        helo: "mx.sender.example",
        junk: opts.junk ?? false,
        authentication: opts.authentication ?? VERDICTS,
      }, new TextEncoder().encode(raw(opts.id ?? crypto.randomUUID()))),
    });
    assertEquals(res.status, 200, await res.clone().text());
    return (await res.json()).results as { recipient: string; status: string }[];
  };
  const rcpt = async (recipient: string) =>
    await (await gw.call("POST", "/v1/bridge/recipient", { token: key, body: { recipient } }))
      .json();
  return { gw, key, admin, inbound, rcpt };
}

const rows = (gw: TestGateway) => gw.deps.store.db.select().from(schema.outbox);
const seals = (gw: TestGateway) => gw.deps.store.db.select().from(schema.outboxSeals);

storeTest(
  "issue21#3: an alias to a remote address forwards with an SRS sender and an ARC seal request",
  async () => {
    const { gw, key, admin, inbound } = await world();
    try {
      const alias = await gw.call("POST", "/v1/admin/aliases", {
        token: admin,
        body: { address: `list@${DOMAIN}`, targets: ["far@elsewhere.example", ALICE.address] },
      });
      assertEquals(alias.status, 201, await alias.clone().text());
      const results = await inbound([`list@${DOMAIN}`]);
      assertEquals(results.map((r) => r.status), ["delivered"], "Alice's copy is stored");
      const [row] = await rows(gw);
      assertEquals(row.rcptTo, "far@elsewhere.example");
      assertMatch(row.mailFrom, /^SRS0=[A-Z2-7]{6}=[A-Z2-7]{2}=sender\.example=zed@postern\.test$/);
      const [seal] = await seals(gw);
      assertEquals([seal.outboxId, seal.domain, seal.cv], [row.id, DOMAIN, "none"]);
      assertEquals(
        seal.authResults.replace(/\r\n /g, " "),
        `${gw.deps.config.hostname}; spf=pass smtp.mailfrom=sender.example; dkim=pass ` +
          "header.d=sender.example header.s=s1 header.a=rsa-sha256; dmarc=pass " +
          "header.from=sender.example; arc=none smtp.remote-ip=198.51.100.7",
      );
      // The row's queued event still names the outbox row (the seal's insert sits between them).
      const queued = (await gw.deps.store.db.select().from(schema.events))
        .filter((e) => e.type === "outbox.queued");
      assertEquals(queued.map((e) => JSON.parse(e.data).outboxId), [row.id]);

      // The bridge's claim carries the seal request with the item.
      const outbox = new OutboxClient("http://gw", key, (r) => gw.app.fetch(r));
      const claim = await outbox.claim({ worker: "w1", limit: 10, leaseSeconds: 60 });
      const [item] = claim.groups[0].items;
      assertEquals(item.mailFrom, row.mailFrom);
      assertEquals(item.arc, { domain: DOMAIN, authResults: seal.authResults, cv: "none" });
    } finally {
      gw.close();
    }
  },
);

Deno.test("issue21#3: the chain status follows the ARC verdict; no SRS for null or local senders", async () => {
  const { gw, admin, inbound } = await world();
  try {
    await gw.call("POST", "/v1/admin/aliases", {
      token: admin,
      body: { address: `list@${DOMAIN}`, targets: ["far@elsewhere.example"] },
    });
    assertEquals(
      (await inbound([`list@${DOMAIN}`], {
        authentication: { ...VERDICTS, arc: { result: "pass" } },
      }))[0].status,
      "queued",
    );
    await inbound([`list@${DOMAIN}`], { authentication: { ...VERDICTS, arc: { result: "fail" } } });
    await inbound([`list@${DOMAIN}`], { mailFrom: "" });
    await inbound([`list@${DOMAIN}`], { mailFrom: BOB.address });
    const all = await rows(gw);
    assertEquals(all.slice(2).map((r) => r.mailFrom), ["", BOB.address]);
    assertEquals((await seals(gw)).map((s) => s.cv), ["pass", "fail", "none", "none"]);
    // Mail that did not come through the MX's checks gets no seal request.
    const before = (await seals(gw)).length;
    await inbound([`list@${DOMAIN}`], { authentication: { clientIp: "198.51.100.7" } });
    assertEquals((await seals(gw)).length, before);
  } finally {
    gw.close();
  }
});

Deno.test("issue21#3: an SRS bounce is taken at RCPT only with a good hash and age, and goes to the original sender", async () => {
  const { gw, admin, inbound, rcpt } = await world();
  try {
    await gw.call("POST", "/v1/admin/aliases", {
      token: admin,
      body: { address: `list@${DOMAIN}`, targets: ["far@elsewhere.example"] },
    });
    await inbound([`list@${DOMAIN}`]);
    const srs = (await rows(gw))[0].mailFrom;
    assertEquals(await rcpt(srs), { accept: true, local: true });
    assertEquals((await rcpt(srs.toLowerCase())).accept, true, "hash compared case-insensitively");
    const forged = srs.replace("=zed@", "=victim@");
    assertEquals((await rcpt(forged)).code, "no_such_recipient");
    assertEquals((await rcpt(`SRS0=AAAAAA=AA=x.example=y@${DOMAIN}`)).accept, false);

    // The bounce (null sender) to the SRS address is queued for zed@sender.example as it is.
    const results = await inbound([srs], { mailFrom: "", authentication: { clientIp: "1.2.3.4" } });
    assertEquals(results.map((r) => r.status), ["queued"]);
    const back = (await rows(gw))[1];
    assertEquals([back.rcptTo, back.mailFrom], ["zed@sender.example", ""]);
    // Refused in the hand-in too, not only at RCPT.
    assertEquals((await inbound([forged], { mailFrom: "" }))[0].status, "rejected");

    // 22 days later the address no longer reverses.
    const now = gw.deps.clock.now;
    gw.deps.clock = { now: () => now() + 22 * 86_400_000 };
    assertEquals((await rcpt(srs)).code, "no_such_recipient");
  } finally {
    gw.close();
  }
});

storeTest(
  "issue21#3: account forwarding over REST, honoured by delivery (keep a copy or not, junk stays)",
  async () => {
    const { gw, inbound } = await world();
    try {
      const alice = await gw.login(ALICE);
      const get = async () =>
        await (await gw.call("GET", "/v1/account/forwarding", { token: alice })).json();
      assertEquals(await get(), { targets: [], keepCopy: true });

      const bad = await gw.call("PUT", "/v1/account/forwarding", {
        token: alice,
        body: { targets: ["not an address", ALICE.address, "x@a.example", "X@a.example"] },
      });
      assertEquals(bad.status, 422);
      const problem = await bad.json();
      assertEquals(problem.errors.map((e: { path: string }) => e.path), [
        "targets.0",
        "targets.1",
        "targets.3",
      ]);

      // An API key (even with every scope it may hold) cannot divert the mail.
      const keyRes = await gw.call("POST", "/v1/api-keys", {
        token: alice,
        body: { name: "app", scopes: ["read", "send"] },
      });
      const apiKey = (await keyRes.json()).key;
      const viaKey = await gw.call("PUT", "/v1/account/forwarding", {
        token: apiKey,
        body: { targets: ["thief@evil.example"] },
      });
      assertEquals(viaKey.status, 403);
      await viaKey.body?.cancel();

      const put = await gw.call("PUT", "/v1/account/forwarding", {
        token: alice,
        body: { targets: ["alice@home.example", BOB.address], keepCopy: false },
      });
      assertEquals(put.status, 200, await put.clone().text());
      assertEquals(await get(), { targets: ["alice@home.example", BOB.address], keepCopy: false });

      const inboxOf = async (address: string) => {
        const all = await gw.deps.store.db.select().from(schema.messages);
        const accounts = await gw.deps.store.db.select().from(schema.accounts);
        const id = accounts.find((a) => a.address === address)!.id;
        return all.filter((m) => m.accountId === id).length;
      };
      // Bob's stored copy is what the sender is told about.
      assertEquals((await inbound([ALICE.address]))[0].status, "delivered");
      assertEquals(await inboxOf(ALICE.address), 0, "no copy kept");
      assertEquals(await inboxOf(BOB.address), 1, "a local target gets it stored");
      const [row] = await rows(gw);
      assertEquals(row.rcptTo, "alice@home.example");
      assertMatch(row.mailFrom, /^SRS0=.*=sender\.example=zed@postern\.test$/);

      await gw.call("PUT", "/v1/account/forwarding", {
        token: alice,
        body: { targets: ["alice@home.example"], keepCopy: true },
      });
      assertEquals((await inbound([ALICE.address]))[0].status, "delivered");
      assertEquals(await inboxOf(ALICE.address), 1);
      assertEquals((await rows(gw)).length, 2);

      // Junk is kept, not forwarded.
      assertEquals((await inbound([ALICE.address], { junk: true }))[0].status, "delivered");
      assertEquals((await rows(gw)).length, 2);

      const off = await gw.call("PUT", "/v1/account/forwarding", {
        token: alice,
        body: { targets: [] },
      });
      assertEquals(await off.json(), { targets: [], keepCopy: true });
      await inbound([ALICE.address]);
      assertEquals((await rows(gw)).length, 2);
      assert(
        (await gw.deps.store.db.select().from(schema.auditLog)).some((a) =>
          a.action === "forwarding.set"
        ),
      );
    } finally {
      gw.close();
    }
  },
);
