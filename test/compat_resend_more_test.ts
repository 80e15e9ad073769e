/**
 * More of Resend's API through its own SDK (issue 19 item 1): listing sent emails with its
 * paging (`limit`, `after`, `before`) and managing API keys (create with full or sending access,
 * list, remove); a key never makes a key wider than itself; domains (add, list, check against a
 * test DNS server, tracking switches, remove); `template` rendering a Postern template by name
 * or by a version's numeric id, alone and in a batch.
 */
import { Resend } from "resend";
import { listen } from "../hosts/process/serve.ts";
import { assert, assertEquals } from "./fixtures/assert.ts";
import { ADMIN, ALICE, BOB, createTestGateway } from "./fixtures/app.ts";
import { aliceKey, queuedRaw } from "./fixtures/tx_sent.ts";
import { startFakeDns, type Zone } from "./fixtures/fake_dns.ts";
import { schema } from "../src/store/store.ts";

Deno.test("issue19#1: Resend's SDK lists sent emails newest first and pages with after/before", async () => {
  const gw = await createTestGateway();
  const listener = await listen((req) => gw.app.fetch(req), { hostname: "127.0.0.1", port: 0 });
  try {
    const resend = new Resend(await aliceKey(gw), { baseUrl: `http://127.0.0.1:${listener.port}` });
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) {
      const sent = await resend.emails.send({
        from: ALICE.address,
        to: [`r${i}@remote.test`],
        subject: `Note ${i}`,
        text: "x",
      });
      assertEquals(sent.error, null, JSON.stringify(sent.error));
      ids.push(sent.data!.id);
    }
    const newestFirst = ids.toReversed();
    const first = await resend.emails.list({ limit: 2 });
    assertEquals(first.error, null, JSON.stringify(first.error));
    assertEquals(first.data!.data.map((e) => e.id), newestFirst.slice(0, 2));
    assertEquals(first.data!.has_more, true);
    assertEquals(first.data!.data[0].to, ["r4@remote.test"]);
    assertEquals(first.data!.data[0].last_event, "queued");
    const second = await resend.emails.list({ limit: 2, after: newestFirst[1] });
    assertEquals(second.data!.data.map((e) => e.id), newestFirst.slice(2, 4));
    const back = await resend.emails.list({ limit: 2, before: newestFirst[2] });
    assertEquals(back.data!.data.map((e) => e.id), newestFirst.slice(0, 2));
    const all = await resend.emails.list({ limit: 100 });
    assertEquals([all.data!.data.length, all.data!.has_more], [5, false]);
  } finally {
    await listener.shutdown();
    gw.close();
  }
});

Deno.test("issue19#1: Resend's SDK sends with a template by name or id, alone and in a batch", async () => {
  const gw = await createTestGateway();
  const listener = await listen((req) => gw.app.fetch(req), { hostname: "127.0.0.1", port: 0 });
  try {
    const save = async (token: string, body: Record<string, unknown>) => {
      const res = await gw.call("POST", "/v1/templates", { token, body });
      assertEquals(res.status, 201, await res.clone().text());
      return (await res.json()).id as number;
    };
    const alice = await gw.login(ALICE);
    const v1 = await save(alice, { name: "invoice", subject: "Invoice {{n}}", text: "v1 {{n}}" });
    await save(alice, { name: "invoice", subject: "Invoice {{n}}", html: "<p>v2 {{n}}</p>" });
    const bobs = await save(await gw.login(BOB), { name: "bob-only", subject: "b", text: "b" });
    const resend = new Resend(await aliceKey(gw), { baseUrl: `http://127.0.0.1:${listener.port}` });

    const byName = await resend.emails.send({
      from: ALICE.address,
      to: "s@remote.test",
      template: { id: "invoice", variables: { n: 12 } },
    });
    assertEquals(byName.error, null, JSON.stringify(byName.error));
    const raw = await queuedRaw(gw, byName.data!.id);
    assert(/^Subject: Invoice 12/m.test(raw) && raw.includes("<p>v2 12</p>"), raw);
    const got = await resend.emails.get(byName.data!.id);
    assertEquals([got.data?.subject, got.data?.html?.trim()], ["Invoice 12", "<p>v2 12</p>"]);

    // A version's numeric id names the template; its latest version is rendered. The subject
    // given with it wins over the template's.
    const byId = await resend.emails.send({
      from: ALICE.address,
      to: "t@remote.test",
      subject: "Your invoice",
      template: { id: String(v1), variables: { n: "13" } },
    });
    assertEquals(byId.error, null, JSON.stringify(byId.error));
    const second = await queuedRaw(gw, byId.data!.id);
    assert(/^Subject: Your invoice/m.test(second) && second.includes("<p>v2 13</p>"), second);

    // A name of digits is still a name.
    await save(alice, { name: "2024", subject: "Year {{n}}", text: "year" });
    const digits = await resend.emails.send({
      from: ALICE.address,
      to: "t@remote.test",
      template: { id: "2024", variables: { n: 1 } },
    });
    assertEquals(digits.error, null, JSON.stringify(digits.error));
    assert(/^Subject: Year 1/m.test(await queuedRaw(gw, digits.data!.id)));

    // Another account's template id is not found; a missing variable is named.
    const foreign = await resend.emails.send({
      from: ALICE.address,
      to: "u@remote.test",
      template: { id: String(bobs) },
    });
    assertEquals([foreign.error?.statusCode, foreign.error?.name], [404, "not_found"]);
    const missing = await resend.emails.send({
      from: ALICE.address,
      to: "u@remote.test",
      template: { id: "invoice" },
    });
    assertEquals(missing.error?.statusCode, 422);
    assert(/n/.test(missing.error!.message), missing.error!.message);

    const batch = await resend.batch.send([
      {
        from: ALICE.address,
        to: "v@remote.test",
        template: { id: "invoice", variables: { n: 1 } },
      },
      { from: ALICE.address, to: "w@remote.test", subject: "plain", text: "no template" },
    ]);
    assertEquals(batch.error, null, JSON.stringify(batch.error));
    const [first] = batch.data!.data;
    assert((await queuedRaw(gw, first.id)).includes("<p>v2 1</p>"));
    assertEquals((await gw.deps.store.db.select().from(schema.txMessages)).length, 5);
  } finally {
    await listener.shutdown();
    gw.close();
  }
});

Deno.test("issue19#1: Resend's SDK creates, lists and removes API keys, never wider than itself", async () => {
  const gw = await createTestGateway();
  const listener = await listen((req) => gw.app.fetch(req), { hostname: "127.0.0.1", port: 0 });
  const baseUrl = `http://127.0.0.1:${listener.port}`;
  try {
    const resend = new Resend(await aliceKey(gw), { baseUrl });
    const made = await resend.apiKeys.create({ name: "ci", permission: "sending_access" });
    assertEquals(made.error, null, JSON.stringify(made.error));
    assert(made.data!.token.startsWith("pst_"));

    // The new key sends, but cannot manage keys or read (sending access only).
    const sending = new Resend(made.data!.token, { baseUrl });
    const sent = await sending.emails.send({
      from: ALICE.address,
      to: "x@remote.test",
      subject: "s",
      text: "t",
    });
    assertEquals(sent.error, null, JSON.stringify(sent.error));
    const refused = await sending.apiKeys.list();
    assertEquals(refused.error?.name, "restricted_api_key");

    const listed = await resend.apiKeys.list();
    assert(listed.data!.data.some((k) => k.id === made.data!.id && k.name === "ci"));
    const removed = await resend.apiKeys.remove(made.data!.id);
    assertEquals(removed.error, null, JSON.stringify(removed.error));
    const after = await sending.emails.send({
      from: ALICE.address,
      to: "x@remote.test",
      subject: "s",
      text: "t",
    });
    assertEquals(after.error?.statusCode, 401, "a removed key stops working");
    assert(!(await resend.apiKeys.list()).data!.data.some((k) => k.id === made.data!.id));

    // A domain restriction the account may not use is refused, not widened.
    const domainKey = await resend.apiKeys.create(
      { name: "d", domain_id: "postern.test" } as never,
    );
    assertEquals(domainKey.error?.statusCode, 403);
    assertEquals((await resend.apiKeys.remove("999999")).error?.name, "not_found");
  } finally {
    await listener.shutdown();
    gw.close();
  }
});

Deno.test("issue19#1: Resend's SDK adds, lists, checks, updates and removes domains", async () => {
  const dns = await startFakeDns({});
  const gw = await createTestGateway({ dnsServers: dns.server, hostname: "mail.postern.test" });
  const listener = await listen((req) => gw.app.fetch(req), { hostname: "127.0.0.1", port: 0 });
  const baseUrl = `http://127.0.0.1:${listener.port}`;
  try {
    const made = await gw.call("POST", "/v1/api-keys", {
      token: await gw.login(ADMIN),
      body: { name: "ops", scopes: ["send", "read", "admin"] },
    });
    const resend = new Resend((await made.json()).key, { baseUrl });
    const created = await resend.domains.create({ name: "news.example" });
    assertEquals(created.error, null, JSON.stringify(created.error));
    const id = created.data!.id;
    assertEquals([created.data!.name, created.data!.status], ["news.example", "not_started"]);
    const mx = created.data!.records.find((r) => r.record === "Receiving")!;
    assertEquals([mx.type, typeof mx.priority], ["MX", "number"]);
    assert(created.data!.records.some((r) => r.record === "DKIM"), "DKIM records to publish");

    // Nothing published yet: failed. Then publish every record and it verifies.
    const before = await resend.domains.get(id);
    assertEquals(before.data!.status, "failed");
    const zone: Zone = {};
    for (const r of before.data!.records) {
      const node = zone[r.name] ??= {};
      if (r.type === "MX") node.MX = [...(node.MX ?? []), `${r.priority} ${r.value}`];
      if (r.type === "TXT") node.TXT = [...(node.TXT ?? []), r.value];
    }
    dns.zone = zone;
    assertEquals((await resend.domains.verify(id)).error, null);
    const after = await resend.domains.get(id);
    assertEquals(after.data!.status, "verified", JSON.stringify(after.data!.records));
    const listed = await resend.domains.list();
    assert(listed.data!.data.some((d) => d.id === id && d.status === "verified"));

    const updated = await resend.domains.update({ id, openTracking: true, clickTracking: false });
    assertEquals(updated.error, null, JSON.stringify(updated.error));
    const settings = await gw.deps.store.db.select().from(schema.txDomainSettings);
    assertEquals(settings.map((s) => [s.domain, s.trackOpens, s.trackClicks]), [[
      "news.example",
      true,
      false,
    ]]);

    // A plain user's key reaches no domain; the domain in use cannot go; an unused one can.
    const alice = new Resend(await aliceKey(gw), { baseUrl });
    assertEquals((await alice.domains.list()).error?.statusCode, 403);
    assertEquals(
      (await resend.domains.remove("1")).error?.statusCode,
      409,
      "postern.test has accounts",
    );
    const removed = await resend.domains.remove(id);
    assertEquals(removed.error, null, JSON.stringify(removed.error));
    assertEquals((await resend.domains.get(id)).error?.name, "not_found");
  } finally {
    await listener.shutdown();
    gw.close();
    await dns.close();
  }
});
