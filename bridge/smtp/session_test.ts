import assert from "node:assert/strict";
import { SmtpError } from "./reply.ts";
import { connect, FakeBackend, mxConfig, submissionConfig, Wire } from "./testing.ts";

const ehloMx = (client = "client.test") => `
  S: 250-mx.example.test greets ${client}
  S: 250-PIPELINING
  S: 250-SIZE 1000
  S: 250-8BITMIME
  S: 250-BINARYMIME
  S: 250-CHUNKING
  S: 250-SMTPUTF8
  S: 250-ENHANCEDSTATUSCODES
  S: 250 DSN`;

Deno.test("MX: a whole transaction, stored before the 250", async () => {
  const w = await connect(mxConfig);
  await w.run(`
    C: EHLO client.test
    ${ehloMx()}
    C: MAIL FROM:<sender@remote.test> SIZE=100 BODY=8BITMIME
    S: 250 2.1.0 sender OK
    C: RCPT TO:<alice@example.test> NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;alice+2B1@example.test
    S: 250 2.1.5 recipient OK
    C: RCPT TO:<Bob@Example.TEST>
    S: 550 5.1.1 no such user
    C: RCPT TO:<bob@example.test>
    S: 250 2.1.5 recipient OK
    C: DATA
    S: 354 end data with <CR><LF>.<CR><LF>
    C: Subject: hi
    C:
    C: ..leading dot
    C: .
    S: 250 2.0.0 queued as 1
    C: QUIT
    S: 221 2.0.0 bye
    S: [close]
  `);
  const [m] = w.backend.delivered;
  assert.equal(m.text, "Subject: hi\r\n\r\n.leading dot\r\n");
  assert.equal(m.envelope.mailFrom, "sender@remote.test");
  assert.deepEqual(m.envelope.rcptTo.map((r) => r.address), [
    "alice@example.test",
    "bob@example.test",
  ]);
  assert.deepEqual(m.envelope.rcptTo[0].params, {
    notify: ["SUCCESS", "FAILURE"],
    orcpt: { addrType: "rfc822", address: "alice+1@example.test" },
  });
  assert.deepEqual(m.envelope.params, { smtputf8: false, size: 100, body: "8BITMIME" });
  assert.equal(m.envelope.helo, "client.test");
  assert.equal(m.envelope.clientIp, "192.0.2.7");
  assert.equal(m.envelope.tls, false);
});

Deno.test("MX: HELO, null reverse-path, source route, bare Postmaster", async () => {
  const w = await connect(mxConfig);
  await w.run(`
    C: HELO old.test
    S: 250 mx.example.test
    C: MAIL FROM:<> BODY=8BITMIME
    S: 555 5.5.4 unsupported parameter (send EHLO first)
    C: MAIL FROM:<>
    S: 250 2.1.0 sender OK
    C: RCPT TO:<@relay.test,@other.test:alice@example.test>
    S: 250 2.1.5 recipient OK
    C: RCPT TO:<Postmaster>
    S: 250 2.1.5 recipient OK
    C: DATA
    S: 354 end data with <CR><LF>.<CR><LF>
    C: .
    S: 250 2.0.0 queued as 1
  `);
  const [m] = w.backend.delivered;
  assert.equal(m.envelope.mailFrom, "");
  assert.equal(m.text, "");
  assert.deepEqual(m.envelope.rcptTo.map((r) => r.address), [
    "alice@example.test",
    "postmaster@mx.example.test",
  ]);
});

Deno.test("MX: never an open relay", async () => {
  const w = await connect(mxConfig);
  await w.run(`
    C: EHLO spammer.test
    ${ehloMx("spammer.test")}
    C: MAIL FROM:<spam@spammer.test>
    S: 250 2.1.0 sender OK
    C: RCPT TO:<victim@elsewhere.test>
    S: 550 5.7.1 relaying denied
    C: RCPT TO:<alice@example.test@elsewhere.test>
    S: 501 5.1.3 bad recipient address: the local part has a character that needs quoting
    C: RCPT TO:<"alice@example.test"@elsewhere.test>
    S: 550 5.7.1 relaying denied
    C: DATA
    S: 554 5.5.1 no valid recipients
    C: AUTH PLAIN ${btoa("\0alice@example.test\0sesame")}
    S: 502 5.5.1 AUTH is not offered here
  `);
  assert.equal(w.backend.delivered.length, 0);
});

Deno.test("command order: 503 for out-of-sequence commands, RSET and EHLO reset", async () => {
  const w = await connect(mxConfig);
  await w.run(`
    C: MAIL FROM:<a@remote.test>
    S: 503 5.5.1 send EHLO/HELO first
    C: RCPT TO:<alice@example.test>
    S: 503 5.5.1 need MAIL before RCPT
    C: DATA
    S: 503 5.5.1 need MAIL before DATA
    C: RSET
    S: 250 2.0.0 reset
    C: EHLO client.test
    ${ehloMx()}
    C: MAIL FROM:<a@remote.test>
    S: 250 2.1.0 sender OK
    C: MAIL FROM:<b@remote.test>
    S: 503 5.5.1 nested MAIL command
    C: RCPT TO:<alice@example.test>
    S: 250 2.1.5 recipient OK
    C: RSET
    S: 250 2.0.0 reset
    C: DATA
    S: 503 5.5.1 need MAIL before DATA
    C: MAIL FROM:<a@remote.test>
    S: 250 2.1.0 sender OK
    C: EHLO again.test
    ${ehloMx("again.test")}
    C: RCPT TO:<alice@example.test>
    S: 503 5.5.1 need MAIL before RCPT
  `);
});

Deno.test("PIPELINING: one write of many commands is answered in order", async () => {
  const w = await connect(mxConfig);
  await w.run(`
    B: EHLO client.test\\r\\nMAIL FROM:<a@remote.test>\\r\\nRCPT TO:<alice@example.test>\\r\\nRCPT TO:<nobody@example.test>\\r\\nRCPT TO:<bob@example.test>\\r\\nDATA\\r\\n
    ${ehloMx()}
    S: 250 2.1.0 sender OK
    S: 250 2.1.5 recipient OK
    S: 550 5.1.1 no such user
    S: 250 2.1.5 recipient OK
    S: 354 end data with <CR><LF>.<CR><LF>
    B: one\\r\\n.\\r\\nMAIL FROM:<b@remote.test>\\r\\nRCPT TO:<bob@example.test>\\r\\nDATA\\r\\n
    S: 250 2.0.0 queued as 1
    S: 250 2.1.0 sender OK
    S: 250 2.1.5 recipient OK
    S: 354 end data with <CR><LF>.<CR><LF>
    B: two\\r\\n.\\r\\nQUIT\\r\\nNOOP\\r\\n
    S: 250 2.0.0 queued as 2
    S: 221 2.0.0 bye
    S: [close]
  `);
  assert.deepEqual(w.backend.delivered.map((d) => d.text), ["one\r\n", "two\r\n"]);
});

Deno.test("concurrent handleLine calls are still handled in order", async () => {
  const w = await connect(mxConfig);
  const s = w.session;
  const replies = await Promise.all([
    s.handleLine("EHLO c.test"),
    s.handleLine("MAIL FROM:<a@remote.test>"),
    s.handleLine("RCPT TO:<alice@example.test>"),
    s.handleLine("NOOP"),
  ]);
  assert.deepEqual(replies.slice(1).map((r) => r.map((a) => a.type === "reply" && a.text)), [
    ["250 2.1.0 sender OK\r\n"],
    ["250 2.1.5 recipient OK\r\n"],
    ["250 2.0.0 OK\r\n"],
  ]);
});

Deno.test("limits: maxRecipients, then 10,000 more RCPTs get 452 and nothing breaks", async () => {
  const backend = new FakeBackend();
  for (let i = 0; i < 10_010; i++) backend.users.add(`u${i}@example.test`);
  const w = await connect(mxConfig, backend);
  await w.run(`C: EHLO c.test\n${ehloMx("c.test")}`);
  await w.run("C: MAIL FROM:<a@remote.test>\nS: 250 2.1.0 sender OK");
  let rcpts = "";
  for (let i = 0; i < 10_000; i++) rcpts += `RCPT TO:<u${i}@example.test>\r\n`;
  await w.send(new TextEncoder().encode(rcpts));
  assert.equal(w.output.length, 10_000);
  assert.deepEqual(w.output.slice(0, 5), Array(5).fill("250 2.1.5 recipient OK"));
  assert.deepEqual(new Set(w.output.slice(5)), new Set(["452 4.5.3 too many recipients"]));
  w.output.length = 0;
  await w.run(`
    C: DATA
    S: 354 end data with <CR><LF>.<CR><LF>
    C: x
    C: .
    S: 250 2.0.0 queued as 1
  `);
  assert.equal(w.backend.delivered[0].envelope.rcptTo.length, 5);
});

Deno.test("limits: SIZE over the maximum is refused at MAIL (RFC 1870)", async () => {
  const w = await connect(mxConfig);
  await w.run(`
    C: EHLO c.test
    ${ehloMx("c.test")}
    C: MAIL FROM:<a@remote.test> SIZE=1001
    S: 552 5.3.4 message exceeds the fixed maximum size
    C: MAIL FROM:<a@remote.test> SIZE=1000
    S: 250 2.1.0 sender OK
  `);
});

Deno.test("bad input: NUL bytes, invalid UTF-8, a 10 MB line, controls", async () => {
  const w = await connect(mxConfig);
  await w.run(`
    B: NOOP\\0\\r\\n
    S: 500 5.5.2 NUL octet in command line
    B: EHLO \\xff\\xfe\\r\\n
    S: 500 5.5.2 command line is not valid UTF-8
    B: NOOP\\x01\\r\\n
    S: 501 5.5.4 control character in command line
  `);
  const huge = new Uint8Array(10 * 1024 * 1024).fill(65);
  assert.deepEqual(await w.session.handleLine(huge), [
    { type: "reply", text: "500 5.5.2 line too long\r\n" },
  ]);
  assert.deepEqual(await w.session.handleLine("X".repeat(10 * 1024 * 1024)), [
    { type: "reply", text: "500 5.5.2 line too long\r\n" },
  ]);
  assert.deepEqual(await w.session.lineTooLong(), [
    { type: "reply", text: "500 5.5.2 line too long\r\n" },
  ]);
  await w.run("C: NOOP\nS: 250 2.0.0 OK");
});

Deno.test("too many errors: 421 and close, later input ignored", async () => {
  const w = await connect(mxConfig);
  const lines = Array.from({ length: 9 }, () => "C: FOO\nS: 500 5.5.1 command not recognized");
  await w.run(`
    ${lines.join("\n")}
    C: EXPN staff
    S: 502 5.5.1 EXPN is not supported
    S: 421 4.7.0 too many errors, closing the connection
    S: [close]
    C: NOOP
  `);
  assert.deepEqual(await w.session.handleLine("NOOP"), []);
});

Deno.test("informational commands: VRFY 252, EXPN 502, HELP 214, NOOP 250", async () => {
  const w = await connect(mxConfig);
  await w.run(`
    C: VRFY alice
    S: 252 2.5.0 cannot verify the user, but will accept mail and attempt delivery
    C: VRFY
    S: 501 5.5.4 VRFY needs an argument
    C: EXPN list
    S: 502 5.5.1 EXPN is not supported
    C: HELP
    S: 214 2.0.0 see RFC 5321; commands: EHLO HELO MAIL RCPT DATA BDAT RSET NOOP QUIT
    C: noop anything
    S: 250 2.0.0 OK
    C: QUIT now
    S: 501 5.5.4 QUIT takes no argument
  `);
});

Deno.test("backend failures: 451 4.3.0, never 250", async () => {
  const backend = new FakeBackend();
  const w = await connect(mxConfig, backend);
  backend.rcptThrows = true;
  await w.run(`
    C: EHLO c.test
    ${ehloMx("c.test")}
    C: MAIL FROM:<a@remote.test>
    S: 250 2.1.0 sender OK
    C: RCPT TO:<alice@example.test>
    S: 451 4.3.0 temporary local problem, try again later
  `);
  backend.rcptThrows = false;
  backend.deliverResult = "throw";
  await w.run(`
    C: RCPT TO:<alice@example.test>
    S: 250 2.1.5 recipient OK
    C: DATA
    S: 354 end data with <CR><LF>.<CR><LF>
    C: hello
    C: .
    S: 451 4.3.0 temporary local problem, try again later
    C: RCPT TO:<alice@example.test>
    S: 503 5.5.1 need MAIL before RCPT
  `);
  backend.deliverResult = { code: 552, enhanced: "5.2.2", text: "mailbox full\r\n250 fake" };
  await w.run(`
    C: MAIL FROM:<a@remote.test>
    S: 250 2.1.0 sender OK
    C: RCPT TO:<alice@example.test>
    S: 250 2.1.5 recipient OK
    C: DATA
    S: 354 end data with <CR><LF>.<CR><LF>
    C: .
    S: 552 5.2.2 mailbox full  250 fake
  `);
  backend.deliverResult = { recipients: [] };
  await w.run(`
    C: MAIL FROM:<a@remote.test>
    S: 250 2.1.0 sender OK
    C: RCPT TO:<alice@example.test>
    S: 250 2.1.5 recipient OK
    C: DATA
    S: 354 end data with <CR><LF>.<CR><LF>
    C: .
    S: 451 4.3.0 temporary local problem, try again later
  `);
});

Deno.test("SMTPUTF8: UTF-8 addresses only in an SMTPUTF8 transaction (RFC 6531)", async () => {
  const backend = new FakeBackend();
  backend.users.add("jöran@example.test");
  const w = await connect(mxConfig, backend);
  await w.run(`
    C: EHLO c.test
    ${ehloMx("c.test")}
    C: MAIL FROM:<pelé@remote.test>
    S: 553 5.6.7 non-ASCII address requires the SMTPUTF8 parameter
    C: MAIL FROM:<a@remote.test>
    S: 250 2.1.0 sender OK
    C: RCPT TO:<jöran@example.test>
    S: 553 5.6.7 non-ASCII address requires the SMTPUTF8 parameter
    C: RSET
    S: 250 2.0.0 reset
    C: MAIL FROM:<pelé@remote.test> SMTPUTF8
    S: 250 2.1.0 sender OK
    C: RCPT TO:<jöran@example.test>
    S: 250 2.1.5 recipient OK
  `);
});

Deno.test("early-talker pause: quiet clients are greeted, talkers refused", async () => {
  const config = { ...mxConfig, earlyTalkerPause: 300 };
  const quiet = new Wire(config);
  await quiet.run("S: [pause 300]");
  quiet.record(quiet.session.afterPause(false));
  await quiet.run("S: 220 mx.example.test ESMTP\nC: NOOP\nS: 250 2.0.0 OK");
  const talker = new Wire(config);
  await talker.run(`
    S: [pause 300]
    C: EHLO hasty.test
    S: 554 5.5.1 talked before the greeting
    S: [close]
  `);
});

Deno.test("submission: MAIL needs AUTH (530), checkSender can refuse", async () => {
  const backend = new FakeBackend();
  const w = await connect({ ...submissionConfig, tlsActive: true }, backend);
  await w.run(`
    C: EHLO c.test
    S: 250-smtp.example.test greets c.test
    S: 250-PIPELINING
    S: 250-SIZE 1000
    S: 250-8BITMIME
    S: 250-BINARYMIME
    S: 250-CHUNKING
    S: 250-SMTPUTF8
    S: 250-ENHANCEDSTATUSCODES
    S: 250-DSN
    S: 250 AUTH PLAIN LOGIN
    C: MAIL FROM:<alice@example.test>
    S: 530 5.7.0 authentication required
    C: AUTH PLAIN ${btoa("\0alice@example.test\0sesame")}
    S: 235 2.7.0 authentication successful
    C: MAIL FROM:<alice@example.test> AUTH=alice@example.test
    S: 250 2.1.0 sender OK
    C: RCPT TO:<friend@elsewhere.test>
    S: 250 2.1.5 recipient OK
    C: DATA
    S: 354 end data with <CR><LF>.<CR><LF>
    C: hi
    C: .
    S: 250 2.0.0 queued as 1
  `);
  assert.equal(backend.delivered[0].envelope.authenticatedAs, "alice@example.test");
  assert.equal(backend.delivered[0].envelope.params.auth, "alice@example.test");
  assert.equal(backend.delivered[0].envelope.mode, "submission");
  backend.checkSender = (e) =>
    Promise.resolve(
      e.mailFrom === "alice@example.test"
        ? { ok: true }
        : { ok: false, code: 550, enhanced: "5.7.1", text: "not your address" },
    );
  await w.run(`
    C: MAIL FROM:<bob@example.test>
    S: 550 5.7.1 not your address
    C: MAIL FROM:<alice@example.test>
    S: 250 2.1.0 sender OK
  `);
});

Deno.test("a backend may throw SmtpError to pick the reply, but never a success", async () => {
  const backend = new FakeBackend();
  const w = await connect(mxConfig, backend);
  backend.checkRecipient = () =>
    Promise.reject(new SmtpError({ code: 450, enhanced: "4.2.1", text: "greylisted" }));
  await w.run(`
    C: EHLO c.test
    ${ehloMx("c.test")}
    C: MAIL FROM:<a@remote.test>
    S: 250 2.1.0 sender OK
    C: RCPT TO:<alice@example.test>
    S: 450 4.2.1 greylisted
  `);
  backend.checkRecipient = () => Promise.resolve({ ok: true });
  backend.deliver = () =>
    Promise.reject(new SmtpError({ code: 250, enhanced: "2.0.0", text: "pretend" }));
  await w.run(`
    C: RCPT TO:<alice@example.test>
    S: 250 2.1.5 recipient OK
    C: DATA
    S: 354 end data with <CR><LF>.<CR><LF>
    C: .
    S: 451 4.3.0 temporary local problem, try again later
  `);
});
