/**
 * Issue 19 item 5 (and what issue 18's admin console reads): the domains API with the live DNS
 * check of each record against a test DNS server, the outbound queue API (filters, keyset
 * paging, retry now, cancel, 409 while a transport holds an entry), the statistics for
 * administrators, and the isolation of domain administrators from other domains.
 */
import { eq } from "drizzle-orm";
import { assert, assertEquals } from "./fixtures/assert.ts";
import {
  ADMIN,
  ALICE,
  createTestGateway,
  DOMAIN,
  expectProblem,
  type TestGateway,
} from "./fixtures/app.ts";
import { startFakeDns, type Zone } from "./fixtures/fake_dns.ts";
import { runCli } from "./fixtures/cli_run.ts";
import { schema } from "../src/store/store.ts";

const OTHER = "other.test";
const DADMIN = { address: `boss@${OTHER}`, password: "boss-password-1" };
const CAROL = { address: `carol@${OTHER}`, password: "carol-password-1" };

/** A second domain with its administrator and a user; returns tokens. */
async function tenants(gw: TestGateway) {
  const admin = await gw.login(ADMIN);
  assertEquals(
    (await gw.call("POST", "/v1/domains", { token: admin, body: { name: OTHER } })).status,
    201,
  );
  for (const who of [{ ...DADMIN, adminDomains: [OTHER] }, CAROL]) {
    const res = await gw.call("POST", "/v1/admin/accounts", { token: admin, body: who });
    assertEquals(res.status, 201, await res.clone().text());
  }
  return {
    admin,
    alice: await gw.login(ALICE),
    boss: await gw.login(DADMIN),
    carol: await gw.login(CAROL),
  };
}

async function send(gw: TestGateway, token: string, from: string, to: string) {
  const res = await gw.call("POST", "/v1/emails", {
    token,
    body: { from, to: [to], subject: "queued", text: "x" },
  });
  assertEquals(res.status, 201, await res.clone().text());
}

Deno.test("issue19#5: the domains API lists a domain's records and checks each live; a missing DKIM key is a failure with a warning", async () => {
  const dns = await startFakeDns({});
  const gw = await createTestGateway({ dnsServers: dns.server, hostname: "mail.postern.test" });
  try {
    const admin = await gw.login(ADMIN);
    const first = await (await gw.call("GET", `/v1/domains/${DOMAIN}`, { token: admin })).json();
    assertEquals(first.name, DOMAIN);
    assertEquals(first.check.verified, false);
    const kinds = new Set(first.check.checks.map((c: { kind: string }) => c.kind));
    for (const k of ["mx", "spf", "dkim", "dmarc", "mta-sts", "tls-rpt", "srv", "sharp"]) {
      assert(kinds.has(k), `a ${k} check`);
    }
    // Publish everything but the Ed25519 DKIM key.
    const zone: Zone = { "mail.postern.test": { A: ["127.0.0.1"] } };
    type Rec = { name: string; type: string; value: string };
    const publish = (r: Rec) => {
      const node = zone[r.name.replace(/\.$/, "")] ??= {};
      const v = r.value.replace(/\.$/, "");
      if (r.type === "MX" || r.type === "TXT" || r.type === "SRV") {
        node[r.type] = [...(node[r.type] ?? []), v];
      }
      if (r.type === "CNAME") node.A = ["127.0.0.1"];
    };
    for (const r of first.records as Rec[]) if (!r.value.includes("k=ed25519")) publish(r);
    dns.zone = zone;
    const partial = await (await gw.call("GET", `/v1/domains/${DOMAIN}`, { token: admin })).json();
    assertEquals(partial.check.verified, false);
    const failing = partial.check.checks.filter((c: { pass: boolean }) => !c.pass);
    assertEquals(failing.map((c: { kind: string; status: string }) => [c.kind, c.status]), [
      ["dkim", "missing"],
    ]);
    assertEquals(partial.check.warnings.length, 1);
    assert(/^DKIM key \S+ is not published/.test(partial.check.warnings[0]));

    for (const r of first.records as Rec[]) if (r.value.includes("k=ed25519")) publish(r);
    const full = await (await gw.call("GET", `/v1/domains/${DOMAIN}`, { token: admin })).json();
    assertEquals([full.check.verified, full.check.warnings], [true, []]);
    const skipped = await gw.call("GET", `/v1/domains/${DOMAIN}?check=false`, { token: admin });
    assertEquals((await skipped.json()).check, null);
  } finally {
    gw.close();
    await dns.close();
  }
});

Deno.test("issue19#5: domains isolation: a domain admin sees only its domain, a user gets 403, only server admins add domains", async () => {
  const gw = await createTestGateway();
  try {
    const t = await tenants(gw);
    const names = async (token: string) =>
      (await (await gw.call("GET", "/v1/domains", { token })).json()).items.map((
        d: { name: string },
      ) => d.name);
    assertEquals(await names(t.admin), [OTHER, DOMAIN]);
    assertEquals(await names(t.boss), [OTHER]);
    await expectProblem(
      await gw.call("GET", "/v1/domains", { token: t.alice }),
      403,
      "domain_admin_required",
    );
    await expectProblem(
      await gw.call("GET", `/v1/domains/${DOMAIN}?check=false`, { token: t.boss }),
      404,
      "not_found",
    );
    const own = await gw.call("GET", `/v1/domains/${OTHER}?check=false`, { token: t.boss });
    assertEquals((await own.json()).accounts, 2);
    await expectProblem(
      await gw.call("POST", "/v1/domains", { token: t.boss, body: { name: "new.test" } }),
      403,
      "forbidden",
    );
    await expectProblem(
      await gw.call("POST", "/v1/domains", { token: t.admin, body: { name: OTHER } }),
      409,
      "already_exists",
    );
  } finally {
    gw.close();
  }
});

Deno.test("issue19#5: queue API lists with filters and keyset paging, retries now and cancels; 409 while sending or finished", async () => {
  const gw = await createTestGateway();
  try {
    const t = await tenants(gw);
    for (let i = 0; i < 3; i++) await send(gw, t.alice, ALICE.address, `r${i}@far.example`);
    await send(gw, t.carol, CAROL.address, "x@near.example");

    const list = async (token: string, query = "") =>
      await (await gw.call("GET", `/v1/queue${query}`, { token })).json();
    const all = await list(t.admin);
    assertEquals(all.items.length, 4);
    assertEquals(all.items[0].recipient, "x@near.example", "newest first");
    assertEquals(all.items[0].senderAccount, CAROL.address);

    const page1 = await list(t.admin, "?limit=2&domain=far.example");
    assertEquals(page1.items.map((e: { recipient: string }) => e.recipient), [
      "r2@far.example",
      "r1@far.example",
    ]);
    const page2 = await list(t.admin, `?limit=2&domain=far.example&cursor=${page1.nextCursor}`);
    assertEquals([page2.items.length, page2.nextCursor], [1, null]);
    assertEquals((await list(t.admin, "?recipient=R1@FAR.example")).items.length, 1);
    assertEquals((await list(t.admin, "?state=sent")).items.length, 0);
    await expectProblem(
      await gw.call("GET", "/v1/queue?state=lost", { token: t.admin }),
      422,
      "validation_failed",
    );

    // The domain admin sees its domain's sender only; the user nothing.
    const bosses = await list(t.boss);
    assertEquals(bosses.items.map((e: { recipient: string }) => e.recipient), ["x@near.example"]);
    await expectProblem(
      await gw.call("GET", "/v1/queue", { token: t.alice }),
      403,
      "domain_admin_required",
    );
    const aliceEntry = all.items[1].id;
    await expectProblem(
      await gw.call("POST", `/v1/queue/${aliceEntry}/cancel`, { token: t.boss }),
      404,
      "not_found",
    );

    // Retry: a deferred entry becomes due now, with its failure reason kept.
    const later = Date.now() + 3_600_000;
    await gw.deps.store.db.update(schema.outbox).set({
      state: "deferred",
      attempts: 2,
      nextAttemptAt: later,
      lastError: "451 4.7.1 greylisted",
    }).where(eq(schema.outbox.id, aliceEntry));
    const retried = await (await gw.call("POST", `/v1/queue/${aliceEntry}/retry`, {
      token: t.admin,
    })).json();
    assertEquals([retried.state, retried.attempts, retried.lastError], [
      "deferred",
      2,
      "451 4.7.1 greylisted",
    ]);
    assert(Date.parse(retried.nextAttemptAt) < later, "due now");

    // A row a worker holds is refused; so is a finished one.
    const held = all.items[2].id;
    await gw.deps.store.db.update(schema.outbox).set({
      state: "sending",
      leaseOwner: "w1",
      leaseUntil: Date.now() + 60_000,
    }).where(eq(schema.outbox.id, held));
    await expectProblem(
      await gw.call("POST", `/v1/queue/${held}/cancel`, { token: t.admin }),
      409,
      "conflict",
    );

    const cancelled = await (await gw.call("POST", `/v1/queue/${aliceEntry}/cancel`, {
      token: t.admin,
    })).json();
    assertEquals(cancelled.state, "cancelled");
    await expectProblem(
      await gw.call("POST", `/v1/queue/${aliceEntry}/retry`, { token: t.admin }),
      409,
      "conflict",
    );
    // The transactional timeline says so, and the audit log names who did it.
    const events = await gw.deps.store.db.select().from(schema.txEvents)
      .where(eq(schema.txEvents.type, "cancelled"));
    assertEquals(events.map((e) => e.recipient), ["r2@far.example"]);
    const audit = await (await gw.call("GET", "/v1/admin/audit", { token: t.admin })).json();
    assertEquals(
      audit.items.slice(0, 2).map((a: { action: string }) => a.action),
      ["queue.cancel", "queue.retry"],
    );
  } finally {
    gw.close();
  }
});

Deno.test("issue19#5: statistics for administrators: sending per day over every account, inbound volume and verdicts, scoped to the domain admin's domains", async () => {
  const gw = await createTestGateway();
  try {
    const t = await tenants(gw);
    // Local deliveries are sent and delivered at once (transactional/outbox_events.ts).
    await send(gw, t.alice, ALICE.address, `bob@${DOMAIN}`);
    await send(gw, t.carol, CAROL.address, `boss@${OTHER}`);
    await send(gw, t.carol, CAROL.address, `alice@${DOMAIN}`);
    const today = new Date().toISOString().slice(0, 10);
    const sending = async (token: string) =>
      (await (await gw.call("GET", "/v1/stats/sending?groupBy=day", { token })).json()).rows;
    const everyone = await sending(t.admin);
    assertEquals([everyone[0].key, everyone[0].sent, everyone[0].delivered], [today, 3, 3]);
    const theirs = await sending(t.boss);
    assertEquals([theirs[0].sent, theirs[0].delivered], [2, 2]);

    // Inbound: one verified message into Junk for the other domain's admin, checks recorded.
    const boss = await gw.deps.store.db.select().from(schema.accounts)
      .where(eq(schema.accounts.address, DADMIN.address));
    const [junk] = await gw.deps.store.db.select().from(schema.mailboxes)
      .where(eq(schema.mailboxes.accountId, boss[0].id));
    await gw.deps.store.db.update(schema.messages).set({
      parsed: JSON.stringify({
        authentication: {
          spf: { result: "fail" },
          dkim: [{ result: "pass" }],
          dmarc: { result: "fail" },
        },
      }),
    }).where(eq(schema.messages.accountId, boss[0].id));
    assert(junk, "the admin has mailboxes");
    const inbound = async (token: string) =>
      (await (await gw.call("GET", "/v1/stats/inbound", { token })).json()).days;
    const all = await inbound(t.admin);
    assertEquals(all.length, 1);
    assertEquals([all[0].day, all[0].received, all[0].unchecked], [today, 3, 2]);
    const mine = await inbound(t.boss);
    assertEquals(
      [mine[0].received, mine[0].spfFail, mine[0].dkimPass, mine[0].dmarcFail, mine[0].unchecked],
      [1, 1, 1, 1, 0],
    );
    await expectProblem(
      await gw.call("GET", "/v1/stats/inbound", { token: t.alice }),
      403,
      "domain_admin_required",
    );
    await expectProblem(
      await gw.call("GET", "/v1/stats/inbound?from=2020-01-01&to=2026-01-01", { token: t.admin }),
      422,
      "validation_failed",
    );
  } finally {
    gw.close();
  }
});

const cli = runCli;

Deno.test("issue19#5: postern queue list|retry|cancel through the API; 2 for bad usage, 3 for a conflict", async () => {
  const dir = await Deno.makeTempDir({ prefix: "postern-queue-" });
  const env = {
    POSTERN_DATA_DIR: `${dir}/data`,
    POSTERN_ADMIN_PASSWORD: "admin-password-for-tests",
  };
  try {
    assertEquals((await cli(["init"], env)).code, 0);
    const admin = "admin@postern.localhost";
    for (const to of ["one@far.example", "two@far.example"]) {
      const sent = await cli(
        ["send", "--local", "--from", admin, "--to", to, "--text", "x"],
        env,
      );
      assertEquals(sent.code, 0, sent.stderr);
    }
    const listed = await cli(["queue", "list", "--local", "--json"], env);
    assertEquals(listed.code, 0, listed.stderr);
    const page = JSON.parse(listed.stdout);
    assertEquals(page.items.map((e: { recipient: string }) => e.recipient), [
      "two@far.example",
      "one@far.example",
    ]);
    const text = await cli(["queue", "list", "--local", "--recipient", "one@far.example"], env);
    assert(/^ID\s+STATE\s+RECIPIENT/.test(text.stdout), text.stdout);
    assert(text.stdout.includes("one@far.example") && !text.stdout.includes("two@"), text.stdout);

    const id = String(page.items[1].id);
    const retried = await cli(["queue", "retry", id, "--local"], env);
    assertEquals(retried.code, 0, retried.stderr);
    assert(retried.stdout.includes("due now"), retried.stdout);
    const cancelled = await cli(["queue", "cancel", id, "--local", "--json"], env);
    assertEquals(JSON.parse(cancelled.stdout).state, "cancelled");
    const again = await cli(["queue", "cancel", id, "--local"], env);
    assertEquals(again.code, 3, again.stderr);
    assert(again.stderr.includes("cancelled"), again.stderr);
    assertEquals((await cli(["queue", "retry", "abc", "--local"], env)).code, 2);
    assertEquals((await cli(["queue", "list", "--local", "--state", "lost"], env)).code, 2);
    const missing = await cli(["queue", "retry", "999", "--local"], env);
    assertEquals(missing.code, 1, missing.stderr);
    // Without --local a credential is needed.
    const bare = await cli(["queue", "list"], env);
    assertEquals(bare.code, 2);
    assert(bare.stderr.includes("no credentials"), bare.stderr);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("issue18#2: a domain admin manages its own domain's users and aliases, nothing else", async () => {
  const gw = await createTestGateway();
  try {
    const t = await tenants(gw);
    const addresses = async (token: string) =>
      (await (await gw.call("GET", "/v1/admin/accounts", { token })).json()).items.map((
        a: { address: string },
      ) => a.address);
    assertEquals(await addresses(t.boss), [DADMIN.address, CAROL.address]);
    assertEquals((await addresses(t.admin)).length, 5);
    const made = await gw.call("POST", "/v1/admin/accounts", {
      token: t.boss,
      body: { address: `dave@${OTHER}`, password: "dave-password-1", quotaBytes: 1000 },
    });
    assertEquals(made.status, 201);
    const dave = await made.json();
    await expectProblem(
      await gw.call("POST", "/v1/admin/accounts", {
        token: t.boss,
        body: { address: `eve@${DOMAIN}`, password: "eve-password-1" },
      }),
      403,
      "domain_admin_required",
    );
    await expectProblem(
      await gw.call("POST", "/v1/admin/accounts", {
        token: t.boss,
        body: { address: `mallory@${OTHER}`, password: "mallory-password-1", role: "admin" },
      }),
      403,
      "forbidden",
    );
    const patched = await gw.call("PATCH", `/v1/admin/accounts/${dave.id}`, {
      token: t.boss,
      body: { disabled: true, quotaBytes: 5000, password: "a-new-password-2" },
    });
    assertEquals((await patched.json()).disabled, true);
    const aliceId = (await (await gw.call("GET", "/v1/admin/accounts", { token: t.admin })).json())
      .items.find((a: { address: string }) => a.address === ALICE.address).id;
    for (
      const [method, body] of [["GET", undefined], ["PATCH", { disabled: true }], [
        "DELETE",
        undefined,
      ]]
    ) {
      await expectProblem(
        await gw.call(method as string, `/v1/admin/accounts/${aliceId}`, { token: t.boss, body }),
        404,
        "not_found",
      );
    }
    await expectProblem(
      await gw.call("PATCH", `/v1/admin/accounts/${dave.id}`, {
        token: t.boss,
        body: { adminDomains: [OTHER] },
      }),
      403,
      "forbidden",
    );
    // Aliases: its own domain only.
    const alias = await gw.call("POST", "/v1/admin/aliases", {
      token: t.boss,
      body: { address: `info@${OTHER}`, targets: [CAROL.address] },
    });
    assertEquals(alias.status, 201);
    const theirs = await gw.call("POST", "/v1/admin/aliases", {
      token: t.admin,
      body: { address: `info@${DOMAIN}`, targets: [ALICE.address] },
    });
    const list = await (await gw.call("GET", "/v1/admin/aliases", { token: t.boss })).json();
    assertEquals(list.items.map((a: { address: string }) => a.address), [`info@${OTHER}`]);
    await expectProblem(
      await gw.call("DELETE", `/v1/admin/aliases/${(await theirs.json()).id}`, { token: t.boss }),
      404,
      "not_found",
    );
    // Server-wide routes stay server administrators'.
    for (const path of ["/v1/admin/audit", "/v1/admin/domains"]) {
      await expectProblem(await gw.call("GET", path, { token: t.boss }), 403, "forbidden");
    }
    await expectProblem(
      await gw.call("GET", "/v1/admin/accounts", { token: t.alice }),
      403,
      "insufficient_scope",
    );
  } finally {
    gw.close();
  }
});

Deno.test("issue18#2: /admin sends the signed-out to sign-in, with the strict page headers", async () => {
  const gw = await createTestGateway();
  try {
    const res = await gw.app.request("/admin");
    assertEquals([res.status, res.headers.get("location")], [302, "/signin?next=%2Fadmin"]);
    assert(res.headers.get("content-security-policy")?.includes("script-src 'self'"));
    assertEquals(res.headers.get("cache-control"), "no-store");
    const slash = await gw.app.request("/admin/");
    assertEquals([slash.status, slash.headers.get("location")], [301, "/admin"]);
    // A forged or stale refresh cookie is no sign-in.
    const forged = await gw.app.request("/admin", {
      headers: { cookie: "__Host-postern-rt=not-a-token" },
    });
    assertEquals(forged.status, 302);
  } finally {
    gw.close();
  }
});
