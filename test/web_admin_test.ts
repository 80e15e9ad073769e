/**
 * Issue 18 item 2: the admin console in a real browser (Debian's chromium via playwright-core,
 * test/fixtures/browser.ts) against a real gateway on a socket. An administrator signs in, sees
 * a domain's DNS checks (against the test DNS server of domain_check_test.ts) pass and fail,
 * creates an account, retries and cancels queued messages, lifts a suppression, creates and
 * revokes an API key and reads the day's counts off a chart; a domain administrator sees only its
 * domain; a plain user gets 403 on /admin; the session refresh without its CSRF token is refused.
 * Screenshots of each section go where fixtures/browser.ts keeps them (CI's artifact folder).
 */
import { eq } from "drizzle-orm";
import type { Page } from "playwright-core";
import { assert, assertEquals } from "./fixtures/assert.ts";
import { ADMIN, ALICE, DOMAIN, type TestGateway } from "./fixtures/app.ts";
import {
  accessibilityProblems,
  browserWorld,
  cspViolations,
  NO_BROWSER,
  screenshot,
  signIn,
  waitForCount,
} from "./fixtures/browser.ts";
import { startFakeDns, type Zone } from "./fixtures/fake_dns.ts";
import { schema } from "../src/store/store.ts";
import { dispatchWebhooks } from "../src/transactional/webhook_dispatcher.ts";

const OTHER = "other.test";
const XSS = `<img src=x onerror="window.__xss=1"><script>window.__xss=2</script>`;
const BOSS = { address: `boss@${OTHER}`, password: "boss-password-1" };

const shot = (page: Page, name: string) => screenshot(page, `admin-${name}`);

/** Goes to a console section and waits until its data is shown. */
async function section(page: Page, id: string, name: string) {
  await page.getByRole("navigation", { name: "Admin sections" }).getByRole("link", { name })
    .click();
  await page.locator(`body[data-ready="${id}"]`).waitFor();
}

/** Waits for the console's status line to say `text` (failing with what it says instead). */
async function status(page: Page, text: string | RegExp) {
  try {
    await page.locator("#admin-status", { hasText: text }).waitFor({ timeout: 10_000 });
  } catch {
    throw new Error(`status "${await page.locator("#admin-status").innerText()}", not ${text}`);
  }
}

async function json(gw: TestGateway, token: string, method: string, path: string, body?: unknown) {
  const res = await gw.call(method, path, { token, body });
  assert(res.ok, `${method} ${path}: ${res.status} ${await res.clone().text()}`);
  return res.status === 204 ? null : await res.json();
}

Deno.test({
  name: "issue18#2: an admin runs the server from /admin in a real browser",
  ignore: NO_BROWSER,
}, async () => {
  const dns = await startFakeDns({});
  const world = await browserWorld({
    dnsServers: dns.server,
    hostname: "mail.postern.test",
    webhookAllowPrivate: true,
  });
  const hooks: string[] = [];
  const receiver = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, async (r) => {
    hooks.push(JSON.parse(await r.text()).type);
    return new Response("ok");
  });
  const { gw } = world;
  try {
    const admin = await gw.login(ADMIN);
    const alice = await gw.login(ALICE);
    // DNS: everything published but the Ed25519 DKIM key.
    const { records } = await json(gw, admin, "GET", `/v1/domains/${DOMAIN}?check=false`);
    const zone: Zone = { "mail.postern.test": { A: ["127.0.0.1"] } };
    for (const r of records as { name: string; type: string; value: string }[]) {
      if (r.value.includes("k=ed25519")) continue;
      const node = zone[r.name.replace(/\.$/, "")] ??= {};
      const type = r.type === "CNAME" ? "A" : r.type as "MX" | "TXT" | "SRV";
      node[type] = [
        ...(node[type] ?? []),
        r.type === "CNAME" ? "127.0.0.1" : r.value.replace(/\.$/, ""),
      ];
    }
    dns.zone = zone;
    // Two remote recipients in the queue (one deferred with a reason), two local sends tagged
    // "welcome" (sent and delivered at once), a suppressed address.
    await json(gw, alice, "POST", "/v1/emails", {
      from: ALICE.address,
      to: ["one@far.example", "two@far.example"],
      subject: "remote",
      text: "x",
    });
    for (let i = 0; i < 2; i++) {
      await json(gw, alice, "POST", "/v1/emails", {
        from: ALICE.address,
        to: [`bob@${DOMAIN}`],
        subject: `welcome ${i}`,
        text: "x",
        tags: ["welcome"],
      });
    }
    const queued = await gw.deps.store.db.select().from(schema.outbox);
    const one = queued.find((r) => r.rcptTo === "one@far.example")!;
    const two = queued.find((r) => r.rcptTo === "two@far.example")!;
    await gw.deps.store.db.update(schema.outbox).set({
      state: "deferred",
      attempts: 1,
      nextAttemptAt: Date.now() + 3_600_000,
      lastError: "451 4.7.1 greylisted, try later",
    }).where(eq(schema.outbox.id, one.id));
    await json(gw, admin, "POST", `/v1/domains/${DOMAIN}/suppressions`, {
      address: "gone@far.example",
      detail: "asked by phone",
    });
    // Data shown by the console is text, never markup.
    await json(gw, admin, "POST", `/v1/domains/${DOMAIN}/suppressions`, {
      address: "xss@far.example",
      detail: XSS,
    });

    const tab = await world.open();
    const { page } = tab;
    // The administrator starts in the webmail, as everyone does, and finds the console there.
    await signIn(page, ADMIN);
    await page.getByRole("link", { name: "Admin console" }).click();
    await page.locator('body[data-ready="domains"]').waitFor();
    assertEquals(await page.getByRole("link", { name: "Mail", exact: true }).count(), 1);

    // Domains: the checks, passing and failing, with the DKIM warning.
    await page.getByRole("button", { name: `Check DNS of ${DOMAIN}` }).click();
    await status(page, `Checked ${DOMAIN}`);
    const records_ = page.getByRole("table", { name: `Records of ${DOMAIN}` });
    const mx = records_.getByRole("row").filter({ hasText: "MX (required)" });
    assertEquals(await mx.getByText("✓ Pass").count(), 1);
    const dkimMissing = records_.getByRole("row").filter({ hasText: "k=ed25519" });
    assertEquals(await dkimMissing.getByText("✗ missing").count(), 1);
    assert(await page.getByText("Needs attention").isVisible());
    // Every kind of check has its rows: MX, SPF, DKIM, DMARC, MTA-STS, TLS-RPT, SRV, SHARP.
    const kinds = await records_.locator("tbody tr td:first-child").allInnerTexts();
    for (const kind of ["MX", "SPF", "DKIM", "DMARC", "MTA-STS", "TLS-RPT", "SRV", "SHARP"]) {
      assert(kinds.some((k) => k.startsWith(kind)), `a ${kind} check: ${kinds.join(", ")}`);
    }
    for (const scheme of ["light", "dark"] as const) {
      await page.emulateMedia({ colorScheme: scheme });
      assertEquals(await accessibilityProblems(page), [], `domains, ${scheme}`);
    }
    await page.emulateMedia({ colorScheme: "light" });
    const warnings = await page.getByRole("list", { name: "Warnings" }).innerText();
    assert(/DKIM key \S+ is not published/.test(warnings), warnings);
    await shot(page, "domains");
    // Adding a domain shows its records and checks at once (nothing published yet).
    await page.getByLabel("New domain").fill("added.test");
    await page.getByRole("button", { name: "Add domain" }).click();
    await status(page, "Checked added.test");
    assert(await page.getByRole("heading", { name: "DNS of added.test" }).isVisible());
    const added = page.getByRole("table", { name: "Records of added.test" });
    assertEquals(await added.getByText("✓ Pass").count(), 0);
    assert(await added.getByText("✗ missing").count() >= 5);
    assert(await page.getByRole("table", { name: "Domains" }).getByText("added.test").isVisible());

    // Accounts: create one.
    await section(page, "accounts", "Accounts");
    await page.getByLabel("Address", { exact: true }).fill(`carol@${DOMAIN}`);
    await page.getByLabel("Password", { exact: true }).fill("carol-password-1");
    await page.getByLabel("Quota (MB, 0 = none)").first().fill("50");
    await page.getByRole("button", { name: "Create account" }).click();
    await status(page, `Created carol@${DOMAIN}`);
    const carol = page.getByRole("table", { name: "Accounts" }).getByRole("row")
      .filter({ hasText: `carol@${DOMAIN}` });
    assertEquals(await carol.getByText("50.0 MB").count(), 1);
    const [carolRow] = await gw.deps.store.db.select().from(schema.accounts)
      .where(eq(schema.accounts.address, `carol@${DOMAIN}`));
    assertEquals(carolRow.quotaBytes, 50 * 1048576);
    await page.getByRole("button", { name: `Disable carol@${DOMAIN}` }).click();
    await status(page, `Disabled carol@${DOMAIN}`);
    // An alias that forwards to two accounts; mail to it reaches both.
    await page.getByLabel("Alias address").fill(`team@${DOMAIN}`);
    await page.getByLabel("Forward to (comma-separated)").fill(`${ALICE.address}, bob@${DOMAIN}`);
    await page.getByRole("button", { name: "Create alias" }).click();
    await status(page, `Created alias team@${DOMAIN}`);
    const aliasRow = page.getByRole("table", { name: "Aliases" }).getByRole("row")
      .filter({ hasText: `team@${DOMAIN}` });
    assertEquals(await aliasRow.getByText(`${ALICE.address}, bob@${DOMAIN}`).count(), 1);
    const viaAlias = await json(gw, admin, "POST", "/v1/emails", {
      from: ADMIN.address,
      to: [`team@${DOMAIN}`],
      subject: "to the team",
      text: "x",
    });
    assertEquals(viaAlias.recipients[0].status, "delivered");
    const aliceInbox = await json(gw, alice, "GET", "/v1/search?q=team");
    assertEquals(aliceInbox.items.map((m: { subject: string }) => m.subject), ["to the team"]);
    assertEquals(await accessibilityProblems(page), [], "accounts");
    await shot(page, "accounts");

    // Queue: 50 newer entries fill the first page; the next page holds Alice's two. Filtered to
    // their domain, the failure reason shows; retry one now, cancel the other.
    await gw.deps.store.client.execute({
      sql: `INSERT INTO outbox (account_id, blob_sha256, mail_from, rcpt_to, domain, state,
          next_attempt_at, expires_at, created_at, updated_at)
        SELECT account_id, blob_sha256, mail_from, 'bulk' || n || '@bulk.example', 'bulk.example',
          'sent', next_attempt_at, expires_at, created_at, updated_at
        FROM outbox, (WITH RECURSIVE c(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM c WHERE n < 50)
          SELECT n FROM c) WHERE outbox.id = ?`,
      args: [two.id],
    });
    await section(page, "queue", "Queue");
    const queue = page.getByRole("table", { name: "Queue" });
    assertEquals(await queue.locator("tbody tr").count(), 50);
    await page.getByRole("button", { name: "Load more: Queue" }).click();
    await queue.getByText("one@far.example").waitFor();
    assertEquals(await queue.locator("tbody tr").count(), 52);
    await page.getByLabel("Recipient domain").fill("far.example");
    await page.getByRole("button", { name: "Filter" }).click();
    await waitForCount(queue.locator("tbody tr"), 2);
    assertEquals(await queue.getByText("451 4.7.1 greylisted, try later").count(), 1);
    await page.getByRole("button", { name: `Retry entry ${one.id} now` }).click();
    await status(page, "is due now");
    await page.getByRole("button", { name: `Cancel entry ${two.id}` }).click();
    await status(page, `Entry ${two.id} to two@far.example cancelled`);
    const after = await gw.deps.store.db.select().from(schema.outbox);
    const oneAfter = after.find((r) => r.id === one.id)!;
    assert(oneAfter.nextAttemptAt <= Date.now(), "retried: due now");
    assertEquals(after.find((r) => r.id === two.id)!.state, "cancelled");
    assertEquals(
      await queue.getByRole("row").filter({ hasText: "two@far.example" })
        .getByText("cancelled", { exact: true }).count(),
      1,
    );
    await shot(page, "queue");

    // Suppressions: lift one.
    await section(page, "suppressions", "Suppressions");
    const supp = page.getByRole("table", { name: `Suppressions of ${DOMAIN}` });
    assertEquals(await supp.getByText("asked by phone").count(), 1);
    assertEquals(await supp.getByText(XSS).count(), 1, "shown as text");
    assertEquals(await page.evaluate("window.__xss"), undefined, "never run");
    assertEquals(await supp.locator("img").count(), 0);
    await page.getByRole("button", { name: "Lift the suppression of gone@far.example" }).click();
    await status(page, "Lifted the suppression of gone@far.example");
    const left = await json(gw, admin, "GET", `/v1/domains/${DOMAIN}/suppressions`);
    assertEquals(left.suppressions.map((x: { address: string }) => x.address), [
      "xss@far.example",
    ]);
    await shot(page, "suppressions");

    // API keys: the secret is shown once and works until revoked.
    await section(page, "keys", "API keys");
    await page.getByLabel("Key name").fill("console-key");
    await page.getByRole("button", { name: "Create key" }).click();
    await status(page, "Created key console-key");
    const key = await page.locator("#new-key").innerText();
    assert(key.startsWith("pst_"), key);
    const sendWith = async (token: string) =>
      (await gw.call("POST", "/v1/emails", {
        token,
        body: { from: ADMIN.address, to: [`bob@${DOMAIN}`], subject: "k", text: "k" },
      })).status;
    assertEquals(
      (await gw.call("GET", "/v1/api-keys", { token: key })).status,
      403,
      "send scope only",
    );
    assertEquals(
      await sendWith(key),
      201,
    );
    await page.getByRole("button", { name: "Revoke key console-key" }).click();
    await status(page, "Revoked key console-key");
    assertEquals(
      await sendWith(key),
      401,
    );
    assertEquals(await page.locator("#new-key").count(), 0, "the secret is gone from the page");

    // Statistics: today's bar and table cell say what the API counted.
    await section(page, "stats", "Statistics");
    const today = new Date().toISOString().slice(0, 10);
    const bar = (chart: string, series: string, category: string) =>
      page.locator(`#${chart} rect[data-series="${series}"][data-category="${category}"]`)
        .getAttribute("data-value");
    // Alice's two tagged sends, the admin's send to the alias and its key send: 4 sent and
    // delivered today.
    assertEquals(await bar("chart-sent-day", "sent", today), "4");
    assertEquals(await bar("chart-sent-day", "delivered", today), "4");
    assertEquals(await bar("chart-sent-day", "bounced", today), "0");
    assertEquals(await bar("chart-sent-tag", "sent", "welcome"), "2");
    // Received today: bob's three messages (Alice's two and the admin's key send) and the
    // alias's two copies (Alice's and Bob's).
    assertEquals(await bar("chart-inbound", "received", today), "5");
    const svg = page.getByRole("img", { name: "Transactional mail per day (last 14 days)" });
    assertEquals(await svg.count(), 1, "the chart is an image with a name");
    const tableRow = page.locator("#chart-sent-day-table tr", { hasText: today });
    assertEquals(await tableRow.locator("td").first().textContent(), "4");
    assertEquals(await accessibilityProblems(page), [], "statistics");
    await shot(page, "stats");

    // Webhooks: add an endpoint (its secret shown once), see a delivery in its log, replay it.
    await section(page, "webhooks", "Webhooks");
    const hookUrl = `http://127.0.0.1:${receiver.addr.port}/hook`;
    await page.getByLabel("Endpoint URL").fill(hookUrl);
    await page.getByLabel("Events (comma-separated)").fill("email.delivered");
    await page.getByRole("button", { name: "Add endpoint" }).click();
    await status(page, `Added the endpoint ${hookUrl}`);
    assert((await page.locator("#new-webhook-secret").innerText()).startsWith("whsec_"));
    await json(gw, admin, "POST", "/v1/emails", {
      from: ADMIN.address,
      to: [`bob@${DOMAIN}`],
      subject: "hooked",
      text: "x",
    });
    assertEquals(await dispatchWebhooks(gw.deps), 1);
    assertEquals(hooks, ["email.delivered"]);
    await page.getByRole("button", { name: `Delivery log of ${hookUrl}` }).click();
    const log = page.getByRole("table", { name: "Deliveries" });
    await log.getByText("succeeded").waitFor();
    assertEquals(await log.getByRole("cell", { name: "200", exact: true }).count(), 1);
    await log.getByRole("button", { name: /^Replay delivery / }).click();
    await status(page, /queued again/);
    assertEquals(await dispatchWebhooks(gw.deps), 1);
    assertEquals(hooks, ["email.delivered", "email.delivered"]);
    await shot(page, "webhooks");

    // Audit log: the console's changes are there.
    await section(page, "audit", "Audit log");
    const audit = await page.getByRole("table", { name: "Audit log" }).innerText();
    for (const action of ["account.create", "queue.retry", "queue.cancel"]) {
      assert(audit.includes(action), action);
    }
    assertEquals(await cspViolations(tab), []);
    // Every call the console made went to the public JSON API (no private back door).
    assert(tab.calls.length > 20, tab.calls.join());
    assertEquals(tab.calls.filter((c) => !/^[A-Z]+ \/v1\//.test(c)), []);
  } finally {
    await world.close();
    await dns.close();
    await receiver.shutdown();
  }
});

Deno.test({
  name: "issue18#2: a domain admin sees only its domain; a user gets 403; CSRF is refused",
  ignore: NO_BROWSER,
}, async () => {
  const world = await browserWorld();
  const { gw } = world;
  try {
    const admin = await gw.login(ADMIN);
    await json(gw, admin, "POST", "/v1/domains", { name: OTHER });
    await json(gw, admin, "POST", "/v1/admin/accounts", { ...BOSS, adminDomains: [OTHER] });
    for (const [who, to] of [[BOSS, "theirs@far.example"], [ALICE, "ours@far.example"]] as const) {
      await json(gw, await gw.login(who), "POST", "/v1/emails", {
        from: who.address,
        to: [to],
        subject: "x",
        text: "x",
      });
    }

    // A phone-sized window: the section nav wraps above the content.
    const tab = await world.open({ viewport: { width: 390, height: 844 } });
    await signIn(tab.page, BOSS, { next: "/admin" });
    const domains = await tab.page.getByRole("table", { name: "Domains" }).innerText();
    assert(domains.includes(OTHER) && !domains.includes(DOMAIN), domains);
    assertEquals(await tab.page.getByRole("link", { name: "Audit log" }).count(), 0);
    await section(tab.page, "queue", "Queue");
    assertEquals(await tab.page.evaluate("document.activeElement.id"), "queue-h", "focus");
    const queue = await tab.page.getByRole("table", { name: "Queue" }).innerText();
    assert(queue.includes("theirs@far.example") && !queue.includes("ours@"), queue);
    await section(tab.page, "accounts", "Accounts");
    const accounts = await tab.page.getByRole("table", { name: "Accounts" }).innerText();
    assert(accounts.includes(BOSS.address) && !accounts.includes(ALICE.address), accounts);
    // The audit section cannot be reached by its address either.
    await tab.page.evaluate(() => location.hash = "audit");
    await tab.page.locator('body[data-ready="domains"]').waitFor();

    // The session refresh refuses a request without the CSRF token, or with a wrong one.
    const refused = await tab.page.evaluate(async () => {
      const plain = await fetch("/v1/auth/web/refresh", { method: "POST" });
      const wrong = await fetch("/v1/auth/web/refresh", {
        method: "POST",
        headers: { "x-postern-csrf": "not-the-token-0123456789" },
      });
      return [plain.status, (await plain.json()).code, wrong.status, (await wrong.json()).code];
    });
    assertEquals(refused, [403, "csrf_failed", 403, "csrf_failed"]);
    assertEquals(await cspViolations(tab), []);
    const overflow = await tab.page.evaluate(
      "document.documentElement.scrollWidth - document.documentElement.clientWidth",
    );
    assertEquals(overflow, 0, "no sideways scrolling of the page on a phone");
    await shot(tab.page, "phone");

    // A plain user signed in gets 403 at /admin; nobody signed in goes to the sign-in page.
    const user = await world.open();
    await user.page.goto("/signin");
    const signedIn = await user.page.evaluate(async (who) => {
      const res = await fetch("/v1/auth/web/login", {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify(who),
      });
      return res.status;
    }, ALICE);
    assertEquals(signedIn, 200);
    const res = await user.page.goto("/admin");
    assertEquals(res?.status(), 403);
    assert(await user.page.getByRole("heading", { name: "Administrators only" }).isVisible());
    const anon = await world.open();
    await anon.page.goto("/admin");
    assertEquals(new URL(anon.page.url()).pathname, "/signin");
    assertEquals(new URL(anon.page.url()).searchParams.get("next"), "/admin");
  } finally {
    await world.close();
  }
});
