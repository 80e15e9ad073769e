/**
 * The spam pipeline's store work on every engine (embedded file, remote libSQL over Hrana/HTTP
 * and WebSocket, D1 in workerd; fixtures/store.ts): a scored delivery stays one round trip (rate
 * counters ride in the delivery's job), a move into or out of Junk is one move job plus one
 * training job, a relearned message moves its counts from one class to the other, and
 * greylisting keeps its triplets in the store.
 */
import { assert, assertEquals } from "./fixtures/assert.ts";
import { ALICE, createTestGateway } from "./fixtures/app.ts";
import { storeTest } from "./fixtures/store.ts";
import { deliver } from "../src/services/delivery.ts";
import { moveMessage } from "../src/services/messages.ts";
import { greylisted } from "../src/services/spam_greylist.ts";
import { type JobReport, rawSql } from "../src/store/store.ts";
import { parsedOfRow } from "../src/crypt/sealed_rows.ts";
import { tokenHasher } from "../src/crypt/spam_tokens.ts";

const enc = new TextEncoder();
const mail = (id: string, subject: string, body: string) =>
  enc.encode(
    `From: a@remote.example\r\nTo: ${ALICE.address}\r\nSubject: ${subject}\r\n` +
      `Date: Mon, 7 Dec 2026 10:00:00 +0000\r\nMessage-ID: <${id}@remote.example>\r\n\r\n${body}\r\n`,
  );
const inbound = (raw: Uint8Array) => ({
  raw,
  mailFrom: "a@remote.example",
  recipients: [ALICE.address],
  source: "smtp" as const,
  authentication: { clientIp: "192.0.2.1", helo: "mail.remote.example" },
});

storeTest(
  "issue21#1: scoring, counters and training are single round trips on every engine",
  async () => {
    const gw = await createTestGateway({ spamTrustedNetworks: "", spamBayesMinMessages: 1 });
    const sql = rawSql(gw.deps.store.db);
    try {
      const jobs: JobReport[] = [];
      gw.deps.store.onJob = (j) => jobs.push(j);
      const [spam] = await deliver(
        gw.deps,
        inbound(mail("s1", "cheap pills", "cheap pills pharmacy")),
      );
      const [ham] = await deliver(gw.deps, inbound(mail("h1", "lunch", "lunch thursday office")));
      assertEquals([spam.status, ham.status], ["delivered", "delivered"]);
      assertEquals(jobs.map((j) => j.roundTrips), [1, 1]);
      const rates = await sql.all<{ key: string; count: number }>(
        "SELECT key, count FROM spam_rates ORDER BY key",
      );
      assertEquals(rates.map((r) => [r.key, Number(r.count)]), [
        ["i:192.0.2.1", 2],
        ["s:a@remote.example", 2],
      ]);
      const parsed = await sql.get<{ parsed: string }>("SELECT parsed FROM messages WHERE id = ?", [
        spam.messageId!,
      ]);
      // Read through the real decoding path: the parsed form is sealed at rest.
      const spamParsed = await parsedOfRow<{ spam: { score: unknown } }>(
        gw.deps.store.db,
        spam.accountId!,
        parsed!.parsed,
      );
      assertEquals(typeof spamParsed.spam.score, "number");

      const boxes = await sql.all<{ id: number; role: string }>(
        "SELECT id, role FROM mailboxes WHERE account_id = ?",
        [spam.accountId!],
      );
      const box = (role: string) => Number(boxes.find((b) => b.role === role)!.id);
      jobs.length = 0;
      await moveMessage(gw.deps, spam.accountId!, spam.messageId!, box("junk"));
      assertEquals(jobs.map((j) => j.roundTrips), [1, 1], "the move, then the training job");
      await moveMessage(gw.deps, ham.accountId!, ham.messageId!, box("junk"));
      await moveMessage(gw.deps, ham.accountId!, ham.messageId!, box("inbox"));
      const stats = await sql.get<{ nspam: number; nham: number }>(
        "SELECT nspam, nham FROM spam_stats WHERE account_id = ?",
        [spam.accountId!],
      );
      // The ham was learned as spam by mistake, then relearned: its counts moved to ham.
      assertEquals([Number(stats!.nspam), Number(stats!.nham)], [1, 1]);
      // Stored as a keyed hash under the account's key (crypt/spam_tokens.ts), never the word.
      const hashed = (await tokenHasher(gw.deps.store.db, spam.accountId!))("lunch");
      assert(/^#[0-9a-f]{20}$/.test(hashed), hashed);
      const lunch = await sql.get<{ spam: number; ham: number }>(
        "SELECT spam, ham FROM spam_tokens WHERE account_id = ? AND token = ?",
        [spam.accountId!, hashed],
      );
      assertEquals(
        (await sql.get<{ n: number }>(
          "SELECT count(*) AS n FROM spam_tokens WHERE token NOT LIKE '#%'",
        ))!.n,
        0,
        "no token in clear",
      );
      assertEquals([Number(lunch!.spam), Number(lunch!.ham)], [0, 1]);
      assertEquals((await sql.get<{ n: number }>("SELECT count(*) AS n FROM spam_training"))!.n, 0);
      // A move to Trash trains nothing.
      await moveMessage(gw.deps, spam.accountId!, spam.messageId!, box("trash"));
      assertEquals((await sql.get<{ n: number }>("SELECT count(*) AS n FROM spam_training"))!.n, 0);

      const [again] = await deliver(
        gw.deps,
        inbound(mail("s2", "cheap pills", "cheap pills pharmacy")),
      );
      const scored = await sql.get<{ parsed: string }>("SELECT parsed FROM messages WHERE id = ?", [
        again.messageId!,
      ]);
      const tests = (await parsedOfRow<{ spam: { tests: { name: string; score: number }[] } }>(
        gw.deps.store.db,
        again.accountId!,
        scored!.parsed,
      )).spam.tests;
      assert(tests.some((t) => t.name.startsWith("BAYES_") && t.score > 0), JSON.stringify(tests));
    } finally {
      gw.close();
    }
  },
);

storeTest("issue21#1: greylisting triplets live in the store on every engine", async () => {
  const gw = await createTestGateway({
    spamGreylist: true,
    spamGreylistDelaySeconds: 60,
    spamTrustedNetworks: "",
  });
  let now = Date.now();
  (gw.deps as { clock: { now(): number } }).clock = { now: () => now };
  const input = {
    clientIp: "198.51.100.7",
    mailFrom: "x@remote.example",
    recipient: ALICE.address,
  };
  try {
    assertEquals(await greylisted(gw.deps, input), true);
    now += 30_000;
    assertEquals(await greylisted(gw.deps, input), true, "before the delay");
    now += 31_000;
    // The retry from a neighbour in the same /24 passes: the triplet keys on the network.
    assertEquals(await greylisted(gw.deps, { ...input, clientIp: "198.51.100.8" }), false);
    assertEquals(await greylisted(gw.deps, input), false);
    assertEquals(await greylisted(gw.deps, { ...input, mailFrom: "y@remote.example" }), true);
  } finally {
    gw.close();
  }
});
