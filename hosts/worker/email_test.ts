/**
 * The Worker's email() handler against a gateway on Deno (its store: the test engine), for what
 * workerd cannot be made to do on demand: a store that fails mid-delivery. Email Routing turns a
 * throw into a temporary failure and retries; the retry must store the message exactly once.
 */
import { assertEquals, assertRejects } from "../../test/fixtures/assert.ts";
import { BOB, createTestGateway } from "../../test/fixtures/app.ts";
import { rawSql } from "../../src/store/store.ts";
import { type InboundEmail, receiveEmail } from "./email.ts";

const RAW = new TextEncoder().encode(
  "From: a@sender.example\r\nTo: bob@postern.test\r\nSubject: retried\r\n" +
    "Message-ID: <retried-1@sender.example>\r\n\r\nhello\r\n",
);

function routed(raw: Uint8Array, to = BOB.address) {
  const rejected: string[] = [];
  const message: InboundEmail = {
    from: "a@sender.example",
    to,
    raw: new Blob([raw as BlobPart]).stream(),
    rawSize: raw.byteLength,
    setReject: (reason) => rejected.push(reason),
  };
  return { message, rejected };
}

const stored = async (db: Parameters<typeof rawSql>[0]) =>
  Number(
    (await rawSql(db).get<{ n: number }>(
      "SELECT count(*) AS n FROM messages WHERE subject = 'retried'",
    ))?.n,
  );

Deno.test("issue17#1: email() throws on a store failure; the retry is stored once", async () => {
  const gw = await createTestGateway();
  try {
    const store = gw.deps.store;
    const batch = store.batch.bind(store);
    let failures = 1;
    store.batch = (stmts) =>
      failures-- > 0
        ? Promise.reject(new Error("D1_ERROR: Network connection lost."))
        : batch(stmts);
    const first = routed(RAW);
    await assertRejects(
      () => receiveEmail(gw.deps, first.message),
      Error,
      "Network connection lost",
    );
    assertEquals(first.rejected, []); // no 5xx: the sender must retry
    assertEquals(await stored(store.db), 0);
    assertEquals(await receiveEmail(gw.deps, routed(RAW).message), "delivered");
    // A retry after the commit (the answer was lost): the same bytes find the stored copy.
    assertEquals(await receiveEmail(gw.deps, routed(RAW).message), "duplicate");
    assertEquals(await stored(store.db), 1);
  } finally {
    gw.close();
  }
});

Deno.test("issue17#1: email() answers a full mailbox with a temporary failure", async () => {
  const gw = await createTestGateway();
  try {
    await rawSql(gw.deps.store.db).run(
      "UPDATE accounts SET quota_bytes = 10 WHERE address = ?",
      [BOB.address],
    );
    gw.deps.store.forgetReads();
    const { message, rejected } = routed(RAW);
    await assertRejects(() => receiveEmail(gw.deps, message), Error, "quota_exceeded");
    assertEquals(rejected, []);
    assertEquals(await stored(gw.deps.store.db), 0);
  } finally {
    gw.close();
  }
});
