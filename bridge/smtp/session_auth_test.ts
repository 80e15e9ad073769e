import assert from "node:assert/strict";
import { connect, FakeBackend, mxConfig, submissionConfig } from "./testing.ts";

const ext = `
  S: 250-PIPELINING
  S: 250-SIZE 1000
  S: 250-8BITMIME
  S: 250-BINARYMIME
  S: 250-CHUNKING
  S: 250-SMTPUTF8
  S: 250-ENHANCEDSTATUSCODES`;

const ehloPlain = `
  C: EHLO c.test
  S: 250-smtp.example.test greets c.test
  ${ext}
  S: 250-DSN
  S: 250 STARTTLS`;

const ehloTls = `
  C: EHLO c.test
  S: 250-smtp.example.test greets c.test
  ${ext}
  S: 250-DSN
  S: 250 AUTH PLAIN LOGIN`;

const plain = (authz: string, user: string, pass: string) => btoa(`${authz}\0${user}\0${pass}`);

async function overTls(backend = new FakeBackend()) {
  const w = await connect(submissionConfig, backend);
  await w.run(`${ehloPlain}\nC: STARTTLS\nS: 220 2.0.0 ready to start TLS\nS: [startTls]\nT:`);
  await w.run(ehloTls);
  return w;
}

Deno.test("STARTTLS: no AUTH before TLS, state reset after it (RFC 3207 section 4.2)", async () => {
  const backend = new FakeBackend();
  const w = await connect(submissionConfig, backend);
  await w.run(`
    C: STARTTLS
    S: 503 5.5.1 send EHLO first
    ${ehloPlain}
    C: AUTH PLAIN ${plain("", "alice@example.test", "sesame")}
    S: 538 5.7.11 encryption required for authentication
    C: MAIL FROM:<alice@example.test>
    S: 530 5.7.0 authentication required
    C: STARTTLS extra
    S: 501 5.5.4 STARTTLS takes no argument
    B: STARTTLS\\r\\nAUTH PLAIN ${plain("", "alice@example.test", "sesame")}\\r\\n
    S: 220 2.0.0 ready to start TLS
    S: [startTls]
    T:
    C: MAIL FROM:<alice@example.test>
    S: 503 5.5.1 send EHLO/HELO first
    ${ehloTls}
    C: STARTTLS
    S: 503 5.5.1 TLS is already active
  `);
  assert.equal(backend.authCalls.length, 0, "the command pipelined after STARTTLS was dropped");
  assert.equal(w.session.tls, true);
});

Deno.test("STARTTLS: a line injected before the handshake closes the session", async () => {
  const w = await connect(submissionConfig);
  await w.run(`${ehloPlain}\nC: STARTTLS\nS: 220 2.0.0 ready to start TLS\nS: [startTls]`);
  assert.deepEqual(await w.session.handleLine("EHLO evil.test"), [{ type: "close" }]);
});

Deno.test("STARTTLS: not offered without a certificate (454), nor in a transaction", async () => {
  const w = await connect(mxConfig);
  await w.run(`
    C: EHLO c.test
    S: 250-mx.example.test greets c.test
    ${ext}
    S: 250 DSN
    C: STARTTLS
    S: 454 4.7.0 TLS not available
  `);
  const s = await connect({ ...mxConfig, tlsAvailable: true });
  await s.session.handleLine("EHLO c.test");
  await s.session.handleLine("MAIL FROM:<a@remote.test>");
  s.output.length = 0;
  assert.deepEqual(await s.session.handleLine("STARTTLS"), [
    { type: "reply", text: "503 5.5.1 mail transaction in progress\r\n" },
  ]);
});

Deno.test("AUTH PLAIN with an initial response; authzid empty or the same user", async () => {
  const backend = new FakeBackend();
  const w = await overTls(backend);
  await w.run(`
    C: AUTH PLAIN ${plain("bob@example.test", "alice@example.test", "sesame")}
    S: 535 5.7.8 authentication credentials invalid
    C: AUTH PLAIN ${plain("", "alice@example.test", "wrong")}
    S: 535 5.7.8 authentication credentials invalid
    C: AUTH plain ${plain("ALICE@example.test", "alice@example.test", "sesame")}
    S: 235 2.7.0 authentication successful
    C: AUTH PLAIN ${plain("", "alice@example.test", "sesame")}
    S: 503 5.5.1 already authenticated
  `);
  assert.deepEqual(backend.authCalls.map((c) => c.password), ["wrong", "sesame"]);
  assert.equal(backend.authCalls[0].clientIp, "192.0.2.7");
  assert.equal(w.session.authenticatedAs, "alice@example.test");
});

Deno.test("AUTH PLAIN without an initial response: empty 334 challenge", async () => {
  const w = await overTls();
  await w.run(`
    C: AUTH PLAIN
    S: 334
    C: ${plain("", "alice@example.test", "sesame")}
    S: 235 2.7.0 authentication successful
  `);
  const raw = await (await overTls()).session.handleLine("AUTH PLAIN");
  assert.deepEqual(raw, [{ type: "reply", text: "334 \r\n" }], "334 is followed by a space");
});

Deno.test("AUTH LOGIN: base64 prompts, with and without initial response", async () => {
  const w = await overTls();
  await w.run(`
    C: AUTH LOGIN
    S: 334 VXNlcm5hbWU6
    C: ${btoa("alice@example.test")}
    S: 334 UGFzc3dvcmQ6
    C: ${btoa("nope")}
    S: 535 5.7.8 authentication credentials invalid
    C: AUTH LOGIN ${btoa("alice@example.test")}
    S: 334 UGFzc3dvcmQ6
    C: ${btoa("sesame")}
    S: 235 2.7.0 authentication successful
  `);
});

Deno.test("AUTH: cancel with *, bad base64, unknown mechanism, wrong moments", async () => {
  const w = await overTls();
  await w.run(`
    C: AUTH LOGIN
    S: 334 VXNlcm5hbWU6
    C: *
    S: 501 5.7.0 authentication cancelled
    C: AUTH PLAIN
    S: 334
    C: not base64!
    S: 501 5.5.2 invalid base64 in authentication response
    C: AUTH PLAIN ${btoa("no-nul-at-all")}
    S: 501 5.5.4 malformed PLAIN response
    C: AUTH CRAM-MD5
    S: 504 5.5.4 unrecognized authentication mechanism
    C: AUTH
    S: 501 5.5.4 syntax: AUTH mechanism [initial-response]
    C: HELO c.test
    S: 250 smtp.example.test
    C: AUTH PLAIN ${plain("", "alice@example.test", "sesame")}
    S: 503 5.5.1 send EHLO first
  `);
  const mx = await connect({ ...mxConfig, offerAuth: true, requireTlsForAuth: false });
  await mx.session.handleLine("EHLO c.test");
  await mx.session.handleLine("MAIL FROM:<a@remote.test>");
  assert.deepEqual(await mx.session.handleLine(`AUTH PLAIN ${plain("", "a", "b")}`), [
    { type: "reply", text: "503 5.5.1 AUTH is not allowed during a mail transaction\r\n" },
  ]);
});

Deno.test("AUTH: an unreachable or undecided backend is 454 4.7.0", async () => {
  const backend = new FakeBackend();
  const w = await overTls(backend);
  backend.authResult = "throw";
  await w.run(`
    C: AUTH PLAIN ${plain("", "alice@example.test", "sesame")}
    S: 454 4.7.0 temporary authentication failure
  `);
  backend.authResult = { ok: false, temporary: true };
  await w.run(`
    C: AUTH LOGIN ${btoa("alice@example.test")}
    S: 334 UGFzc3dvcmQ6
    C: ${btoa("sesame")}
    S: 454 4.7.0 temporary authentication failure
  `);
  assert.equal(w.session.authenticatedAs, undefined);
});

Deno.test("AUTH: ten failures end the connection (brute force)", async () => {
  const w = await overTls();
  const tries = Array.from(
    { length: 9 },
    () =>
      `C: AUTH PLAIN ${plain("", "alice@example.test", "guess")}\n` +
      "S: 535 5.7.8 authentication credentials invalid",
  );
  await w.run(`
    ${tries.join("\n")}
    C: AUTH PLAIN ${plain("", "alice@example.test", "guess")}
    S: 535 5.7.8 authentication credentials invalid
    S: 421 4.7.0 too many errors, closing the connection
    S: [close]
  `);
});

Deno.test("AUTH over plaintext when TLS is not required is advertised and works", async () => {
  const w = await connect({ ...submissionConfig, tlsAvailable: false, requireTlsForAuth: false });
  await w.run(`
    C: EHLO c.test
    S: 250-smtp.example.test greets c.test
    ${ext}
    S: 250-DSN
    S: 250 AUTH PLAIN LOGIN
    C: AUTH PLAIN =
    S: 501 5.5.4 malformed PLAIN response
    C: AUTH PLAIN ${plain("", "alice@example.test", "sesame")}
    S: 235 2.7.0 authentication successful
  `);
});

Deno.test("AUTH: an over-long response ends the exchange (RFC 4954 section 4: 12288 octets)", async () => {
  const w = await overTls();
  await w.run("C: AUTH PLAIN\nS: 334");
  assert.deepEqual(await w.session.handleLine(new Uint8Array(20_000).fill(65)), [
    { type: "reply", text: "500 5.5.2 line too long\r\n" },
  ]);
  await w.run("C: NOOP\nS: 250 2.0.0 OK");
});
