/**
 * The simple JSON forms of Sieve (issue 21 item 2): `/v1/sieve/rules` and `/v1/sieve/vacation`
 * compile to a managed script that runs at delivery before the user's own active script.
 */
import { eq } from "drizzle-orm";
import { assert, assertEquals } from "./fixtures/assert.ts";
import { ALICE, createTestGateway, expectProblem, type TestGateway } from "./fixtures/app.ts";
import { deliver } from "../src/services/delivery.ts";
import { schema } from "../src/store/store.ts";

const enc = new TextEncoder();

const mail = (subject: string, extra = "", from = "carol@example.org") =>
  enc.encode(
    `From: ${from}\r\nTo: ${ALICE.address}\r\nSubject: ${subject}\r\n` +
      `Message-ID: <${crypto.randomUUID()}@example.org>\r\n${extra}\r\nhello\r\n`,
  );

async function send(gw: TestGateway, raw: Uint8Array, mailFrom = "carol@example.org") {
  const [r] = await deliver(gw.deps, {
    raw,
    mailFrom,
    recipients: [ALICE.address],
    source: "smtp",
  });
  return r;
}

async function where(gw: TestGateway, subject: string) {
  const db = gw.deps.store.db;
  const [m] = await db.select().from(schema.messages).where(eq(schema.messages.subject, subject));
  if (!m) return undefined;
  const [box] = await db.select().from(schema.mailboxes).where(
    eq(schema.mailboxes.id, m.mailboxId),
  );
  return { box: box.name, flagged: m.flagged, seen: m.seen };
}

Deno.test("issue21#2: JSON rules compile to Sieve and file delivered mail, before the user's script", async () => {
  const gw = await createTestGateway();
  try {
    const alice = await gw.login(ALICE);
    const bob = await gw.login({ address: "bob@postern.test", password: "bob-password-1" });
    for (const name of ["Receipts", "Big", "Mine"]) {
      assertEquals(
        (await gw.call("POST", "/v1/mailboxes", { token: alice, body: { name } })).status,
        201,
      );
    }
    const rules = {
      rules: [
        {
          name: "receipts",
          conditions: [
            { field: "from", op: "contains", value: "shop.example" },
            { field: "subject", op: "contains", value: "receipt" },
          ],
          actions: [{ type: "fileinto", mailbox: "Receipts" }, { type: "flag", flag: "\\Seen" }, {
            type: "stop",
          }],
        },
        {
          match: "any",
          conditions: [{ field: "size", op: "over", value: 5000 }],
          actions: [{ type: "fileinto", mailbox: "Big" }],
        },
        {
          conditions: [{ field: "header", header: "X-Tag", op: "is", value: "flag-me" }],
          actions: [{ type: "flag", flag: "\\Flagged" }],
        },
        {
          enabled: false,
          conditions: [],
          actions: [{ type: "discard" }],
        },
      ],
    };
    const put = await gw.call("PUT", "/v1/sieve/rules", { token: alice, body: rules });
    const saved = await put.json();
    assertEquals(put.status, 200, JSON.stringify(saved));
    assert(saved.script.includes('fileinto "Receipts";'), saved.script);
    assert(!saved.script.includes("discard"), "disabled rules do not run");
    assertEquals(
      (await (await gw.call("GET", "/v1/sieve/rules", { token: alice })).json()).rules.length,
      4,
    );
    assertEquals(
      (await (await gw.call("GET", "/v1/sieve/rules", { token: bob })).json()).rules,
      [],
    );

    // The user's own script runs after the rules (the managed script does not stop it).
    const own = `require "fileinto";\nif header :contains "subject" "mine" { fileinto "Mine"; }`;
    await gw.call("PUT", "/v1/sieve/scripts/own", { token: alice, body: { script: own } });
    await gw.call("PUT", "/v1/sieve/active", { token: alice, body: { name: "own" } });

    await send(gw, mail("Your receipt 42 (mine)", "", "orders@shop.example"));
    assertEquals(await where(gw, "Your receipt 42 (mine)"), {
      box: "Receipts",
      flagged: false,
      seen: true,
    });
    await send(gw, mail("big one", `X-Pad: ${"x".repeat(6000)}\r\n`));
    assertEquals((await where(gw, "big one"))?.box, "Big");
    await send(gw, mail("tagged and mine", "X-Tag: flag-me\r\n"));
    assertEquals(await where(gw, "tagged and mine"), { box: "Mine", flagged: true, seen: false });
    await send(gw, mail("plain"));
    assertEquals((await where(gw, "plain"))?.box.toUpperCase(), "INBOX");

    // Conditions the schema cannot check are refused with their paths.
    const bad = await expectProblem(
      await gw.call("PUT", "/v1/sieve/rules", {
        token: alice,
        body: {
          rules: [{
            conditions: [{ field: "size", op: "contains", value: "x" }, {
              field: "header",
              op: "is",
              value: "a",
            }],
            actions: [{ type: "discard" }],
          }],
        },
      }),
      422,
      "validation_failed",
    );
    const paths = bad.errors.map((e: { path: string }) => e.path);
    assert(
      paths.includes("rules.0.conditions.0.op") && paths.includes("rules.0.conditions.1.header"),
      paths,
    );
    // A hostile value stays inside its string.
    const hostile = await gw.call("PUT", "/v1/sieve/rules", {
      token: alice,
      body: {
        rules: [{
          conditions: [{ field: "subject", op: "is", value: '"; discard; #\\' }],
          actions: [{ type: "fileinto", mailbox: 'x" ; discard; "' }],
        }],
      },
    });
    assertEquals(hostile.status, 200);
    assert(!/^\s*discard;/m.test((await hostile.json()).script));
  } finally {
    gw.close();
  }
});

Deno.test("issue21#2: the JSON vacation reply is sent within its dates, once per sender", async () => {
  const gw = await createTestGateway();
  try {
    const alice = await gw.login(ALICE);
    let now = Date.UTC(2026, 11, 7, 12);
    gw.deps.clock = { now: () => now };
    const body = {
      enabled: true,
      subject: "Away",
      body: "Back on the 14th.",
      from: "2026-12-08T00:00:00Z",
      until: "2026-12-14T00:00:00Z",
      days: 3,
    };
    const res = await gw.call("PUT", "/v1/sieve/vacation", { token: alice, body });
    const saved = await res.json();
    assertEquals(res.status, 200, JSON.stringify(saved));
    assertEquals(saved.days, 3);
    assert(saved.script.includes("vacation :days 3"), saved.script);
    const got = await (await gw.call("GET", "/v1/sieve/vacation", { token: alice })).json();
    assertEquals([got.enabled, got.subject, got.until], [true, "Away", "2026-12-14T00:00:00Z"]);

    const replies = async () => (await gw.deps.store.db.select().from(schema.outbox)).length;
    await send(gw, mail("before"));
    assertEquals(await replies(), 0, "not before `from`");
    now = Date.UTC(2026, 11, 9, 12);
    await send(gw, mail("during"));
    await send(gw, mail("during again"));
    assertEquals(await replies(), 1);
    now = Date.UTC(2026, 11, 15, 12);
    await send(gw, mail("after"));
    assertEquals(await replies(), 1, "not after `until`");
    const token = await gw.login(ALICE); // the clock moved on: a fresh session
    // Turning it off keeps the text; rules saved later keep the vacation.
    const rules = await gw.call("PUT", "/v1/sieve/rules", {
      token,
      body: { rules: [{ conditions: [], actions: [{ type: "flag", flag: "$seen-by-rule" }] }] },
    });
    assertEquals(rules.status, 200, await rules.text());
    const after = await (await gw.call("GET", "/v1/sieve/vacation", { token })).json();
    assertEquals(after.body, "Back on the 14th.");
    await expectProblem(
      await gw.call("PUT", "/v1/sieve/vacation", {
        token,
        body: { ...body, until: "2026-12-01T00:00:00Z" },
      }),
      422,
      "validation_failed",
    );
  } finally {
    gw.close();
  }
});
