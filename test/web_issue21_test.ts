/**
 * Issue 21 in the web pages (Debian's chromium via playwright-core, test/fixtures/browser.ts,
 * against a real gateway on a socket). In the webmail a user sets a vacation reply, filters
 * (added, reordered, deleted; "move to folder" and "forward to"), forwarding, spam thresholds
 * and a folder's retention — bad input shows the API's problem+json message beside the field —
 * then mail handed in on the MX path (`/v1/bridge/inbound`, as the SMTP server does) is filed
 * by the filter and answered by the vacation reply; a message is marked Junk and Not junk (the
 * move trains the classifier); a message deleted for good is restored from Deleted messages.
 * In the admin console an administrator sets a domain's spam thresholds and reads a DMARC
 * report that arrived for the domain. Every request the pages make goes to /v1/.
 * One test without a browser checks the seam this branch merged: the filters see the spam
 * verdict's X-Spam fields (DESIGN.md's order: spam verdict, then user rules).
 */
import type { Page } from "playwright-core";
import { assert, assertEquals } from "./fixtures/assert.ts";
import { ADMIN, ALICE, createTestGateway, DOMAIN, type TestGateway } from "./fixtures/app.ts";
import { bridgeKey } from "./fixtures/bridge.ts";
import {
  accessibilityProblems,
  browserTest,
  cspViolations,
  screenshot,
  signIn,
} from "./fixtures/browser.ts";
import { encodeMail, MAIL_MEDIA_TYPE } from "../schemas/bridge.ts";
import { schema } from "../src/store/store.ts";
import { gzip } from "../src/reports/archive.ts";
import { reportMessage } from "../src/reports/dmarc_send.ts";

const enc = new TextEncoder();

/** Hands a message in on the MX path, as the bridge's SMTP server does after DATA. */
async function handIn(gw: TestGateway, rcpt: string, raw: Uint8Array, mailFrom: string) {
  const key = await bridgeKey(gw);
  const res = await gw.app.request("/v1/bridge/inbound", {
    method: "POST",
    headers: { authorization: `Bearer ${key}`, "content-type": MAIL_MEDIA_TYPE },
    body: encodeMail({
      mailFrom,
      recipients: [rcpt],
      clientIp: "192.0.2.25",
      helo: "mx.example.org",
    }, raw),
  });
  assertEquals(res.status, 200, await res.clone().text());
  return (await res.json()).results[0].status as string;
}

const mail = (from: string, subject: string) =>
  enc.encode(
    `From: ${from}\r\nTo: ${ALICE.address}\r\nSubject: ${subject}\r\n` +
      `Message-ID: <${crypto.randomUUID()}@example.org>\r\n` +
      `Date: Mon, 7 Dec 2026 10:00:00 +0000\r\n\r\nHello, this is ${subject}.\r\n`,
  );

async function json(gw: TestGateway, token: string, method: string, path: string, body?: unknown) {
  const res = await gw.call(method, path, { token, body });
  assert(res.ok, `${method} ${path}: ${res.status} ${await res.clone().text()}`);
  return await res.json();
}

/** The mailbox `name` of the message with `subject` (null when Alice has none). */
async function whereIs(gw: TestGateway, token: string, subject: string) {
  const { items: boxes } = await json(gw, token, "GET", "/v1/mailboxes");
  for (const box of boxes) {
    const { items } = await json(gw, token, "GET", `/v1/messages?mailboxId=${box.id}&limit=200`);
    if (items.some((m: { subject: string }) => m.subject === subject)) return box.name as string;
  }
  return null;
}

async function openFolder(page: Page, name: string) {
  await page.locator("#folder-list a", { hasText: name }).first().click();
  await page.getByRole("heading", { name, level: 1 }).waitFor();
}

async function openMessage(page: Page, subject: string) {
  await page.getByRole("option").filter({ hasText: subject }).first().click();
  await page.getByRole("heading", { name: subject, level: 2 }).waitFor();
}

async function openSettings(page: Page) {
  await page.getByRole("button", { name: "Settings" }).click();
  await page.getByRole("button", { name: "Save filters" }).waitFor();
}

/** The error the page shows beside the control named `label`. */
async function errorBeside(page: Page, label: string, exact = true) {
  const control = page.getByLabel(label, { exact });
  await page.waitForFunction(
    (el) => el?.getAttribute("aria-invalid") === "true",
    await control.elementHandle(),
  );
  const id = await control.getAttribute("aria-describedby");
  return await page.locator(`#${id}`).innerText();
}

browserTest(
  "issue21#web: vacation and filters set in the webmail file a delivered message and queue the reply; forwarding, spam and retention settings refuse bad input beside the field",
  async (world) => {
    const { gw } = world;
    const alice = await gw.login(ALICE);
    await json(gw, alice, "POST", "/v1/mailboxes", { name: "Receipts" });
    const tab = await world.open();
    const { page } = tab;
    await signIn(page, ALICE);
    await openSettings(page);

    // Vacation: dates in the wrong order are refused beside "Until", then saved without them.
    await page.getByLabel("Send an automatic reply").check();
    await page.getByLabel("Subject (empty", { exact: false }).fill("Away this week");
    await page.getByLabel("Reply text").fill("Back on Monday.");
    await page.getByLabel("From (optional)").fill("2026-12-20T10:00");
    await page.getByLabel("Until (optional)").fill("2026-12-10T10:00");
    await page.getByLabel("Other addresses of mine", { exact: false }).fill("al@@ice");
    await page.getByRole("button", { name: "Save vacation reply" }).click();
    assert((await errorBeside(page, "Other addresses of mine", false)).length > 0);
    await page.getByLabel("Other addresses of mine", { exact: false }).fill("ally@postern.test");
    await page.getByRole("button", { name: "Save vacation reply" }).click();
    assertEquals(await errorBeside(page, "Until (optional)"), "must be after from");
    await page.getByLabel("From (optional)").fill("");
    await page.getByLabel("Until (optional)").fill("");
    await page.getByRole("button", { name: "Save vacation reply" }).click();
    await page.locator("#vacation [role=status]", { hasText: "Vacation reply on" }).waitFor();
    const vacation = await json(gw, alice, "GET", "/v1/sieve/vacation");
    assertEquals([vacation.enabled, vacation.subject, vacation.body, vacation.addresses], [
      true,
      "Away this week",
      "Back on Monday.",
      ["ally@postern.test"],
    ]);

    // Filters: one files invoices into Receipts; a second forwards the boss's mail, is moved
    // up, refused for a bad address (beside its field), fixed, saved, then deleted.
    await page.getByRole("button", { name: "Add filter" }).click();
    await page.getByLabel("Field, rule 1 condition 1").selectOption("subject");
    await page.getByLabel("Value, rule 1 condition 1").fill("invoice");
    await page.getByLabel("Folder, rule 1 action 1").selectOption("Receipts");
    await page.getByRole("button", { name: "Add filter" }).click();
    await page.getByLabel("Value, rule 2 condition 1").fill("boss@example.org");
    await page.getByLabel("Action, rule 2 action 1").selectOption("redirect");
    await page.getByLabel("Forward to, rule 2 action 1").fill("not an address");
    await page.getByRole("button", { name: "Move up Rule 2" }).click();
    await page.getByRole("button", { name: "Save filters" }).click();
    assert((await errorBeside(page, "Forward to, rule 1 action 1")).length > 0);
    await page.getByLabel("Forward to, rule 1 action 1").fill("me@elsewhere.example");
    await page.getByLabel("Keep a copy, rule 1 action 1").check();
    await page.getByRole("button", { name: "Save filters" }).click();
    await page.locator("#filters [role=status]", { hasText: "Filters saved (2)" }).waitFor();
    let { rules } = await json(gw, alice, "GET", "/v1/sieve/rules");
    assertEquals(rules.map((r: { actions: unknown[] }) => r.actions[0]), [
      { type: "redirect", address: "me@elsewhere.example", copy: true },
      { type: "fileinto", mailbox: "Receipts" },
    ]);
    await page.getByRole("button", { name: "Delete Rule 1" }).click();
    await page.getByRole("button", { name: "Save filters" }).click();
    await page.locator("#filters [role=status]", { hasText: "Filters saved (1)" }).waitFor();
    ({ rules } = await json(gw, alice, "GET", "/v1/sieve/rules"));
    assertEquals(rules.length, 1);
    assertEquals(rules[0].conditions, [{ field: "subject", op: "contains", value: "invoice" }]);

    // Forwarding: a bad address is refused beside the list; a good one is kept, then cleared.
    const targets = "Forward my mail to (one address a line; empty: off)";
    await page.getByLabel(targets).fill("friend@elsewhere.example\nnot@@valid");
    await page.getByRole("button", { name: "Save forwarding" }).click();
    assert((await errorBeside(page, targets)).length > 0);
    await page.getByLabel(targets).fill("friend@elsewhere.example");
    await page.getByRole("button", { name: "Save forwarding" }).click();
    await page.locator("#forwarding [role=status]", { hasText: "Forwarding to" }).waitFor();
    assertEquals((await json(gw, alice, "GET", "/v1/account/forwarding")).targets, [
      "friend@elsewhere.example",
    ]);
    await page.getByLabel(targets).fill("");
    await page.getByRole("button", { name: "Save forwarding" }).click();
    await page.locator("#forwarding [role=status]", { hasText: "Forwarding off" }).waitFor();

    // Spam thresholds: a refusal score under the Junk score is refused beside it.
    await page.getByLabel("Move to Junk from score").fill("6");
    await page.getByLabel("Refuse from score").fill("4");
    await page.getByRole("button", { name: "Save spam settings" }).click();
    assert((await errorBeside(page, "Refuse from score")).includes("Junk threshold"));
    await page.getByLabel("Refuse from score").fill("20");
    await page.getByRole("button", { name: "Save spam settings" }).click();
    await page.locator("#spam-effective", { hasText: "Junk at 6, refused at 20" }).waitFor();

    // Retention: Junk emptied after 30 days.
    await page.getByLabel("Junk: delete after (days; empty: keep)").fill("30");
    await page.getByRole("button", { name: "Save Junk" }).click();
    await page.locator("#retention [role=status]", { hasText: "deleted after 30 days" }).waitFor();
    const { items: boxes } = await json(gw, alice, "GET", "/v1/mailboxes");
    assertEquals(boxes.find((b: { role: string }) => b.role === "junk").retentionDays, 30);

    await screenshot(page, "mail-settings-issue21");
    assertEquals(await accessibilityProblems(page), []);
    await page.getByRole("button", { name: "Close settings" }).click();

    // A message handed in on the MX path: filed by the filter, answered by the vacation reply.
    assertEquals(
      await handIn(gw, ALICE.address, mail("carol@example.org", "Invoice 77"), "carol@example.org"),
      "delivered",
    );
    assertEquals(await whereIs(gw, alice, "Invoice 77"), "Receipts");
    const outbox = await gw.deps.store.db.select().from(schema.outbox);
    assertEquals(outbox.map((r) => [r.rcptTo, r.mailFrom]), [["carol@example.org", ""]]);
    await openFolder(page, "Receipts");
    await openMessage(page, "Invoice 77");
    // Its spam verdict is shown, and opens to the rules that fired.
    const verdict = page.locator("details.spam-verdict");
    // (Alice's own Junk threshold, set above, is the one in force.)
    await verdict.locator("summary", { hasText: /score -?\d+\.\d \(Junk at 6\)/ }).click();
    await verdict.getByRole("list", { name: "Spam rules that fired" }).waitFor();

    assertEquals(await cspViolations(tab), []);
    assertEquals(tab.calls.filter((c) => !c.split(" ")[1].startsWith("/v1/")), []);
  },
);

browserTest(
  "issue21#web: Junk and Not junk move a message (and train the filter); a message deleted for good is restored from Deleted messages",
  async (world) => {
    const { gw } = world;
    const alice = await gw.login(ALICE);
    for (const subject of ["Cheap watches", "Lunch on Friday"]) {
      assertEquals(
        await handIn(gw, ALICE.address, mail("dave@example.org", subject), "dave@example.org"),
        "delivered",
      );
    }
    const tab = await world.open();
    const { page } = tab;
    await signIn(page, ALICE);

    // Junk: the message leaves the Inbox for Junk, and the move is queued for training.
    await openMessage(page, "Cheap watches");
    await page.getByRole("button", { name: "Junk", exact: true }).click();
    await page.locator("#toast", { hasText: "Moved to Junk" }).waitFor();
    assertEquals(await whereIs(gw, alice, "Cheap watches"), "Junk");
    const trained = async () =>
      (await gw.deps.store.db.select().from(schema.spamTraining)).length +
      (await gw.deps.store.db.select().from(schema.spamLearned)).length;
    assert(await trained() > 0, "moving into Junk trains the classifier");
    // Not junk (the keyboard's "!" does the same): back to the Inbox.
    await openFolder(page, "Junk");
    await openMessage(page, "Cheap watches");
    await page.getByRole("button", { name: "Not junk" }).click();
    await page.locator("#toast", { hasText: "Moved to INBOX" }).waitFor();
    assertEquals(await whereIs(gw, alice, "Cheap watches"), "INBOX");

    // Delete to Trash, then for good from Trash; Deleted messages brings it back.
    await openFolder(page, "INBOX");
    await openMessage(page, "Lunch on Friday");
    await page.getByRole("button", { name: "Delete", exact: true }).click();
    await page.locator("#toast", { hasText: "Moved to Trash" }).waitFor();
    await openFolder(page, "Trash");
    await openMessage(page, "Lunch on Friday");
    await page.getByRole("button", { name: "Delete", exact: true }).click();
    await page.locator("#toast", { hasText: "Deleted permanently" }).waitFor();
    assertEquals(await whereIs(gw, alice, "Lunch on Friday"), null);
    await openSettings(page);
    await page.getByRole("button", { name: "Restore Lunch on Friday" }).click();
    await page.locator("#toast", { hasText: "Restored to Trash" }).waitFor();
    assertEquals(await whereIs(gw, alice, "Lunch on Friday"), "Trash");
    assertEquals((await json(gw, alice, "GET", "/v1/recovery")).items, []);
    await page.locator("#deleted", { hasText: "Nothing deleted." }).waitFor();

    assertEquals(await cspViolations(tab), []);
    assertEquals(tab.calls.filter((c) => !c.split(" ")[1].startsWith("/v1/")), []);
  },
);

Deno.test("issue21#1+2: a filter on the spam verdict sees the X-Spam fields the spam step added", async () => {
  const gw = await createTestGateway();
  try {
    const alice = await gw.login(ALICE);
    await json(gw, alice, "POST", "/v1/mailboxes", { name: "Suspect" });
    // Every message counts as spam for Alice; her filter files spam into Suspect, not Junk.
    await json(gw, alice, "PUT", "/v1/spam/settings", { junkScore: -100, rejectScore: 1000 });
    await json(gw, alice, "PUT", "/v1/sieve/rules", {
      rules: [{
        conditions: [{ field: "spam", op: "is" }],
        actions: [{ type: "fileinto", mailbox: "Suspect" }],
      }],
    });
    const raw = mail("eve@example.org", "Prize inside");
    assertEquals(await handIn(gw, ALICE.address, raw, "eve@example.org"), "delivered");
    assertEquals(await whereIs(gw, alice, "Prize inside"), "Suspect");
  } finally {
    gw.close();
  }
});

const REPORT = `<?xml version="1.0"?><feedback><report_metadata><org_name>Big &amp; Co</org_name>` +
  `<email>noreply@big.example</email><report_id>r-21</report_id><date_range>` +
  `<begin>1796601600</begin><end>1796687999</end></date_range></report_metadata>` +
  `<policy_published><domain>${DOMAIN}</domain><p>reject</p></policy_published>` +
  `<record><row><source_ip>192.0.2.9</source_ip><count>7</count><policy_evaluated>` +
  `<disposition>none</disposition><dkim>pass</dkim><spf>fail</spf></policy_evaluated></row>` +
  `<identifiers><header_from>${DOMAIN}</header_from></identifiers><auth_results><dkim>` +
  `<domain>${DOMAIN}</domain><result>pass</result></dkim></auth_results></record></feedback>`;

browserTest(
  "issue21#web: an admin sets a domain's spam thresholds and reads its DMARC report in /admin",
  async (world) => {
    const { gw } = world;
    const admin = await gw.login(ADMIN);
    // A DMARC aggregate report arrives for the domain's postmaster on the MX path.
    const raw = reportMessage({
      from: "noreply@big.example",
      to: [`postmaster@${DOMAIN}`],
      subject: `Report Domain: ${DOMAIN} Submitter: big.example Report-ID: <r-21>`,
      filename: `big.example!${DOMAIN}!1796601600!1796687999.xml.gz`,
      contentType: "application/gzip",
      body: "A DMARC aggregate report.",
      attachment: await gzip(enc.encode(REPORT)),
      messageId: "<r-21@big.example>",
      date: Date.now(),
    });
    assertEquals(await handIn(gw, `postmaster@${DOMAIN}`, raw, "noreply@big.example"), "delivered");

    const tab = await world.open();
    const { page } = tab;
    await signIn(page, ADMIN, { next: "/admin" });
    await page.getByRole("button", { name: `Check DNS of ${DOMAIN}` }).click();
    await page.getByRole("heading", { name: `Spam thresholds of ${DOMAIN}` }).waitFor();
    await page.getByLabel("Move to Junk from score").fill("4");
    await page.getByLabel("Refuse at DATA from score").fill("3");
    await page.getByRole("button", { name: "Save spam thresholds" }).click();
    await page.locator("#dspam-rejectScore-error", { hasText: "Junk threshold" }).waitFor();
    assertEquals(
      await page.getByLabel("Refuse at DATA from score").getAttribute("aria-invalid"),
      "true",
    );
    await page.getByLabel("Refuse at DATA from score").fill("9");
    await page.getByRole("button", { name: "Save spam thresholds" }).click();
    await page.locator("#dspam-effective", { hasText: "Junk at 4, refused at 9" }).waitFor();
    const saved = await json(gw, admin, "GET", `/v1/domains/${DOMAIN}/spam`);
    assertEquals(saved.own.junkScore, 4);
    assertEquals(saved.own.rejectScore, 9);

    // Reports: the DMARC report's summary, and its rows when opened.
    await page.getByRole("navigation", { name: "Admin sections" }).getByRole("link", {
      name: "Reports",
    }).click();
    await page.locator('body[data-ready="reports"]').waitFor();
    const summary = page.getByRole("table", { name: "DMARC reports" });
    await summary.getByRole("cell", { name: "Big & Co" }).waitFor();
    await summary.getByRole("cell", { name: "7", exact: true }).waitFor();
    await page.getByText("Rows of the report from Big & Co (r-21)").click();
    const rows = page.getByRole("table", { name: "Rows of r-21" });
    await rows.getByRole("cell", { name: "192.0.2.9" }).waitFor();
    assert((await rows.innerText()).includes("fail"));
    await screenshot(page, "admin-reports");
    assertEquals(await accessibilityProblems(page), []);
    // TLS reports: none yet, and the page says so.
    await page.getByLabel("Kind").selectOption("tls");
    await page.getByRole("button", { name: "Show reports" }).click();
    await page.getByText("No TLS reports received yet.").waitFor();

    assertEquals(await cspViolations(tab), []);
    assertEquals(tab.calls.filter((c) => !c.split(" ")[1].startsWith("/v1/")), []);
  },
);
