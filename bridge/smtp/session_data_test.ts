import assert from "node:assert/strict";
import { ByteBudget } from "../net/byte_budget.ts";
import { connect, FakeBackend, mxConfig, Wire } from "./testing.ts";

const open = `
  C: EHLO c.test
  S: 250-mx.example.test greets c.test
  S: 250-PIPELINING
  S: 250-SIZE 1000
  S: 250-8BITMIME
  S: 250-BINARYMIME
  S: 250-CHUNKING
  S: 250-SMTPUTF8
  S: 250-ENHANCEDSTATUSCODES
  S: 250 DSN`;

const envelope = (mail = "MAIL FROM:<a@remote.test>") => `
  C: ${mail}
  S: 250 2.1.0 sender OK
  C: RCPT TO:<alice@example.test>
  S: 250 2.1.5 recipient OK`;

async function ready(backend = new FakeBackend()) {
  const w = await connect(mxConfig, backend);
  await w.run(open);
  return w;
}

// The 2023 SMTP smuggling write-ups (SEC Consult) and Postfix's smtpd_forbid_bare_newline: an
// end of data written with bare CR or LF must not end the data, and must not be accepted.
const smuggling = ["\\n.\\n", "\\r.\\r", "\\n.\\r\\n", "\\r\\n.\\n", "\\r.\\r\\n", "\\n..\\r\\n"];

for (const sep of smuggling) {
  Deno.test(`SMTP smuggling: "${sep}" is not an end of data, the message is refused`, async () => {
    const w = await ready();
    await w.run(`
      ${envelope()}
      C: DATA
      S: 354 end data with <CR><LF>.<CR><LF>
      B: From: a@remote.test\\r\\n\\r\\nhello${sep}MAIL FROM:<ceo@example.test>\\r\\nRCPT TO:<bob@example.test>\\r\\nDATA\\r\\nforged\\r\\n
      B: .\\r\\n
      S: 550 5.5.2 bare CR or LF in message data, message rejected
      C: NOOP
      S: 250 2.0.0 OK
    `);
    assert.equal(w.backend.delivered.length, 0, "nothing is stored");
    // The connection stays usable for honest mail.
    await w.run(`
      ${envelope()}
      C: DATA
      S: 354 end data with <CR><LF>.<CR><LF>
      C: clean
      C: .
      S: 250 2.0.0 queued as 1
    `);
    assert.equal(w.backend.delivered[0].text, "clean\r\n");
  });
}

Deno.test("DATA: the end split across writes, one octet at a time", async () => {
  const w = await ready();
  await w.run(`${envelope()}\nC: DATA\nS: 354 end data with <CR><LF>.<CR><LF>`);
  for (const c of "line\r\n..x\r\n.\r\n") await w.send(new TextEncoder().encode(c));
  await w.run("S: 250 2.0.0 queued as 1");
  assert.equal(w.backend.delivered[0].text, "line\r\n.x\r\n");
});

Deno.test("DATA: content over the limit is read to the end, then 552 5.3.4", async () => {
  const w = await ready();
  await w.run(`
    ${envelope()}
    C: DATA
    S: 354 end data with <CR><LF>.<CR><LF>
    C: ${"x".repeat(3000)}
    C: .
    S: 552 5.3.4 message exceeds the fixed maximum size
    ${envelope()}
    C: DATA
    S: 354 end data with <CR><LF>.<CR><LF>
    C: ${"y".repeat(996)}
    C: .
    S: 250 2.0.0 queued as 1
  `);
  assert.equal(w.backend.delivered[0].bytes.length, 998);
});

Deno.test("DATA: BINARYMIME must use BDAT (RFC 3030 section 3)", async () => {
  const w = await ready();
  await w.run(`
    ${envelope("MAIL FROM:<a@remote.test> BODY=BINARYMIME")}
    C: DATA
    S: 503 5.5.1 BINARYMIME needs BDAT
  `);
});

Deno.test("BDAT: chunks then LAST deliver the exact octets (RFC 3030)", async () => {
  const w = await ready();
  await w.run(`
    ${envelope("MAIL FROM:<a@remote.test> BODY=BINARYMIME")}
    B: BDAT 5\\r\\nab\\ncdBDAT 3 LAST\\r\\nxyz
    S: 250 2.0.0 5 octets received
    S: 250 2.0.0 queued as 1
    ${envelope()}
    C: BDAT 4
    B: \\r\\n.\\r
    S: 250 2.0.0 4 octets received
    C: BDAT 0 LAST
    S: 250 2.0.0 queued as 2
    ${envelope()}
    C: BDAT 2
    B: hi
    S: 250 2.0.0 2 octets received
    C: DATA
    S: 503 5.5.1 DATA after BDAT
  `);
  assert.equal(w.backend.delivered[0].text, "ab\ncdxyz");
  assert.equal(w.backend.delivered[1].text, "\r\n.\r");
});

Deno.test("BDAT: refused chunks are still consumed, never run as commands", async () => {
  const w = await ready();
  await w.run(`
    B: BDAT 6\\r\\nQUIT\\r\\nNOOP\\r\\n
    S: 503 5.5.1 need MAIL before BDAT
    S: 250 2.0.0 OK
    C: MAIL FROM:<a@remote.test>
    S: 250 2.1.0 sender OK
    C: RCPT TO:<nobody@example.test>
    S: 550 5.1.1 no such user
    B: BDAT 4 LAST\\r\\nRSETNOOP\\r\\n
    S: 554 5.5.1 no valid recipients
    S: 250 2.0.0 OK
  `);
  assert.equal(w.backend.delivered.length, 0);
});

Deno.test("BDAT: the size limit spans chunks; later chunks repeat the 552", async () => {
  const w = await ready();
  const a = "a".repeat(600);
  await w.run(`
    ${envelope()}
    B: BDAT 600\\r\\n${a}BDAT 600\\r\\n${a}BDAT 3 LAST\\r\\nend
    S: 250 2.0.0 600 octets received
    S: 552 5.3.4 message exceeds the fixed maximum size
    S: 552 5.3.4 message exceeds the fixed maximum size
    ${envelope()}
    C: BDAT 2001
    S: 552 5.3.4 message exceeds the fixed maximum size
    S: [close]
  `);
  assert.equal(w.backend.delivered.length, 0);
});

Deno.test("BDAT: an unreadable size closes the connection", async () => {
  const w = await ready();
  await w.run(`
    ${envelope()}
    C: BDAT lots
    S: 501 5.5.4 syntax: BDAT size [LAST]
    S: [close]
  `);
});

Deno.test("delivery results per recipient fold into one reply", async () => {
  const backend = new FakeBackend();
  const ok = { code: 250, enhanced: "2.0.0", text: "stored" };
  const full = { code: 552, enhanced: "5.2.2", text: "mailbox full" };
  const later = { code: 451, enhanced: "4.2.0", text: "busy" };
  const w = await ready(backend);
  const cases: [typeof ok[], string][] = [
    [[ok, ok], "250 2.0.0 stored"],
    [[ok, later], "451 4.2.0 busy"],
    [[full, full], "552 5.2.2 mailbox full"],
    [[ok, full], "250 2.0.0 accepted for 1 of 2 recipients; the others will bounce"],
  ];
  for (const [recipients, expected] of cases) {
    backend.deliverResult = { recipients };
    await w.run(`
      ${envelope()}
      C: RCPT TO:<bob@example.test>
      S: 250 2.1.5 recipient OK
      C: DATA
      S: 354 end data with <CR><LF>.<CR><LF>
      C: .
      S: ${expected}
    `);
  }
});

Deno.test("issue15#7: DATA when the content budget is spent gets 452 4.3.1; the share comes back", async () => {
  const budget = new ByteBudget({ total: 1024 * 1024, perIp: 1024 * 1024 });
  const other = budget.open("192.0.2.99")!; // another client's message fills the budget
  const w = new Wire(mxConfig, new FakeBackend(), "192.0.2.7", budget);
  await w.run(`S: 220 mx.example.test ESMTP\n${open}\n${envelope()}
    C: DATA
    S: 452 4.3.1 insufficient system storage, try again later
    C: BDAT 5 LAST
    B: hello
    S: 452 4.3.1 insufficient system storage, try again later
  `);
  assert.equal(w.backend.delivered.length, 0);
  other.release();
  await w.run(`${envelope()}
    C: DATA
    S: 354 end data with <CR><LF>.<CR><LF>
    C: hello
    C: .
    S: 250 2.0.0 queued as 1
  `);
  assert.equal(budget.used, 0, "the share is given back once the message is answered");
  await w.run(`${envelope()}
    C: DATA
    S: 354 end data with <CR><LF>.<CR><LF>
    C: RSET
  `);
  assert.equal(budget.used, budget.initial, "held while the content arrives");
  w.session.tx = undefined; // the server does this when the client goes away
  assert.equal(budget.used, 0);
});

Deno.test("issue15#7: content past its first share waits; refused after the wait, read to the end", async () => {
  // A first share of 1 KiB and a budget that the other client's grown message fills.
  const budget = new ByteBudget({ total: 3100, perIp: 3100, initial: 1024, waitMs: 30 });
  const other = budget.open("192.0.2.99")!;
  assert.ok(await other.grow(2000));
  const config = { ...mxConfig, maxMessageBytes: 100_000 };
  const w = new Wire(config, new FakeBackend(), "192.0.2.7", budget);
  const line = "x".repeat(998);
  await w.run(`S: 220 mx.example.test ESMTP\n${open.replace("SIZE 1000", "SIZE 100000")}
    ${envelope()}
    C: DATA
    S: 354 end data with <CR><LF>.<CR><LF>
    ${Array(4).fill(`C: ${line}`).join("\n")}
    C: .
    S: 452 4.3.1 insufficient system storage, try again later
    C: NOOP
    S: 250 2.0.0 OK
  `);
  assert.equal(w.backend.delivered.length, 0);
  // Once the other message is done, the same size goes through (it waits, then grows).
  other.release();
  await w.run(`${envelope()}
    C: DATA
    S: 354 end data with <CR><LF>.<CR><LF>
    ${Array(4).fill(`C: ${line}`).join("\n")}
    C: .
    S: 250 2.0.0 queued as 1
  `);
  assert.equal(w.backend.delivered[0].bytes.length, 4 * 1000);
  assert.equal(budget.used, 0);
});
