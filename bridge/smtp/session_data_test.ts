import assert from "node:assert/strict";
import { connect, FakeBackend, mxConfig } from "./testing.ts";

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
