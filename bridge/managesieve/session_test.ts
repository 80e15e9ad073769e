import assert from "node:assert/strict";
import { MemorySieveBackend } from "./memory_backend.ts";
import { type Action, ManageSieveSession, type SieveSessionConfig } from "./session.ts";

const enc = new TextEncoder();
/** A non-synchronizing literal (RFC 5804 section 4) holding `s`. */
const lit = (s: string) => `{${enc.encode(s).byteLength}+}\r\n${s}`;
const plainB64 = (user: string, pass: string) => btoa(`\0${user}\0${pass}`);

function setup(config: Partial<SieveSessionConfig> = {}) {
  const backend = new MemorySieveBackend();
  backend.addUser("alice@example.test", "pw");
  const session = new ManageSieveSession(
    { tlsAvailable: true, tlsActive: false, allowPlaintextAuth: true, ...config },
    backend,
    "192.0.2.7",
  );
  const text = (actions: Action[]) =>
    actions.map((a) => a.type === "send" ? a.data : `[${a.type}]`).join("");
  return {
    backend,
    session,
    text,
    /** One command (CRLF-joined lines with literals in place); the server's answer. */
    say: async (command: string) => text(await session.handleCommand(enc.encode(command))),
  };
}

const CAPS_PREAUTH = [
  '"IMPLEMENTATION" "Postern ManageSieve"',
  '"SASL" "PLAIN LOGIN"',
  '"SIEVE" "fileinto reject envelope imap4flags variables vacation copy"',
  '"STARTTLS"',
  '"MAXREDIRECTS" "5"',
  '"UNAUTHENTICATE"',
  '"VERSION" "1.0"',
  'OK "Postern ManageSieve ready."',
  "",
].join("\r\n");

Deno.test("issue21#2: ManageSieve session greets with its capabilities and logs in with PLAIN", async () => {
  const t = setup();
  assert.equal(t.text(await t.session.greeting()), CAPS_PREAUTH);
  assert.equal(await t.say("LISTSCRIPTS"), 'NO "authenticate first"\r\n');
  assert.equal(
    await t.say(`AUTHENTICATE "PLAIN" "${plainB64("alice@example.test", "pw")}"`),
    'OK "Logged in."\r\n',
  );
  assert.deepEqual(t.backend.logins, [{ username: "alice@example.test", clientIp: "192.0.2.7" }]);
  // Once authenticated: OWNER, no STARTTLS, no SASL line (RFC 5804 1.7, as Pigeonhole).
  const caps = await t.say("CAPABILITY");
  assert.match(caps, /"OWNER" "alice@example.test"\r\n/);
  assert.doesNotMatch(caps, /STARTTLS/);
  assert.doesNotMatch(caps, /"SASL"/);
  assert.equal(await t.say('NOOP "t1"'), 'OK (TAG "t1") "Done"\r\n');
  assert.equal(await t.say("LOGOUT"), 'OK "Logout completed."\r\n[close]');
});

Deno.test("issue21#2: ManageSieve session: PLAIN and LOGIN by continuation, cancel, failures", async () => {
  const t = setup();
  assert.equal(await t.say('AUTHENTICATE "PLAIN"'), '""\r\n');
  assert.equal(await t.say('"*"'), 'NO "authentication cancelled"\r\n');
  assert.equal(await t.say('AUTHENTICATE "PLAIN"'), '""\r\n');
  assert.equal(
    await t.say(lit(plainB64("alice@example.test", "bad"))),
    'NO "authentication failed"\r\n',
  );
  assert.equal(await t.say('AUTHENTICATE "LOGIN"'), '"VXNlcm5hbWU6"\r\n');
  assert.equal(await t.say(`"${btoa("alice@example.test")}"`), '"UGFzc3dvcmQ6"\r\n');
  assert.equal(await t.say(`"${btoa("pw")}"`), 'OK "Logged in."\r\n');
  assert.equal(t.session.state, "auth");
  assert.equal(await t.say("UNAUTHENTICATE"), "OK\r\n");
  assert.equal(t.session.state, "nonauth");
  assert.equal(
    await t.say('AUTHENTICATE "CRAM-MD5"'),
    'NO "unsupported authentication mechanism"\r\n',
  );
  // The third failed login (one was above) ends the session.
  const bad = `AUTHENTICATE "PLAIN" "${plainB64("alice@example.test", "x")}"`;
  assert.equal(await t.say(bad), 'NO "authentication failed"\r\n');
  assert.equal(
    await t.say(bad),
    'NO "authentication failed"\r\nBYE "too many failed logins"\r\n[close]',
  );
});

Deno.test("issue21#2: ManageSieve session refuses AUTHENTICATE before TLS with ENCRYPT-NEEDED", async () => {
  const t = setup({ allowPlaintextAuth: false });
  const caps = t.text(await t.session.greeting());
  assert.match(caps, /"SASL" ""\r\n/);
  assert.equal(
    await t.say(`AUTHENTICATE "PLAIN" "${plainB64("alice@example.test", "pw")}"`),
    'NO (ENCRYPT-NEEDED) "authentication requires TLS: use STARTTLS first"\r\n',
  );
  assert.equal(t.backend.logins.length, 0);
  assert.equal(await t.say("STARTTLS"), 'OK "Begin TLS negotiation now."\r\n[startTls]');
  assert.match(
    t.text(await t.session.tlsStarted()),
    /"SASL" "PLAIN LOGIN"\r\n[^]*OK "TLS negotiation successful."\r\n$/,
  );
  assert.equal(
    await t.say(`AUTHENTICATE "PLAIN" "${plainB64("alice@example.test", "pw")}"`),
    'OK "Logged in."\r\n',
  );
});

Deno.test("issue21#2: ManageSieve session manages scripts with RFC 5804 response codes", async () => {
  const t = setup();
  await t.say(`AUTHENTICATE "PLAIN" "${plainB64("alice@example.test", "pw")}"`);
  const script = 'require "fileinto";\r\nif header :contains "subject" "x" { fileinto "X"; }\r\n';
  const n = enc.encode(script).byteLength;
  assert.equal(await t.say(`HAVESPACE "rules" ${n}`), "OK\r\n");
  assert.equal(
    await t.say('HAVESPACE "rules" 999999'),
    'NO (QUOTA/MAXSIZE) "scripts are limited to 65536 octets"\r\n',
  );
  assert.equal(await t.say(`PUTSCRIPT "rules" {${n}+}\r\n${script}`), "OK\r\n");
  assert.equal(
    await t.say(`PUTSCRIPT "bad" ${lit('require "nope";\r\nkeep;\r\n')}`),
    'NO "line 1: unsupported extension \\"nope\\""\r\n',
  );
  assert.equal(
    await t.say(`CHECKSCRIPT ${lit('keep;\r\nrequire "x";\r\n')}`),
    'NO "line 2: unsupported extension \\"x\\""\r\n',
  );
  assert.equal(await t.say("CHECKSCRIPT {5+}\r\nkeep;"), "OK\r\n");
  assert.equal(await t.say("LISTSCRIPTS"), '"rules"\r\nOK\r\n');
  assert.equal(await t.say('SETACTIVE "rules"'), "OK\r\n");
  assert.equal(await t.say("LISTSCRIPTS"), '"rules" ACTIVE\r\nOK\r\n');
  assert.equal(await t.say('GETSCRIPT "rules"'), `{${n}}\r\n${script}\r\nOK\r\n`);
  assert.equal(
    await t.say('GETSCRIPT "none"'),
    'NO (NONEXISTENT) "there is no script by that name"\r\n',
  );
  assert.equal(
    await t.say('DELETESCRIPT "rules"'),
    'NO (ACTIVE) "the active script cannot be deleted"\r\n',
  );
  assert.equal(await t.say('PUTSCRIPT "other" "keep;"'), "OK\r\n");
  assert.equal(
    await t.say('RENAMESCRIPT "other" "rules"'),
    'NO (ALREADYEXISTS) "a script by the new name exists"\r\n',
  );
  assert.equal(await t.say('RENAMESCRIPT "other" "Ferien ☀"'), "OK\r\n");
  assert.equal(
    await t.say('RENAMESCRIPT "gone" "x"'),
    'NO (NONEXISTENT) "there is no script by that name"\r\n',
  );
  assert.equal(await t.say('SETACTIVE ""'), "OK\r\n");
  assert.equal(await t.say('DELETESCRIPT "rules"'), "OK\r\n");
  assert.equal(await t.say("LISTSCRIPTS"), '"Ferien ☀"\r\nOK\r\n');
  assert.equal(
    await t.say('SETACTIVE "nope"'),
    'NO (NONEXISTENT) "there is no script by that name"\r\n',
  );
  // The count limit (5 scripts): HAVESPACE and PUTSCRIPT both say QUOTA/MAXSCRIPTS.
  for (const name of ["a", "b", "c", "d"]) await t.say(`PUTSCRIPT "${name}" "keep;"`);
  assert.match(await t.say('HAVESPACE "e" 5'), /^NO \(QUOTA\/MAXSCRIPTS\)/);
  assert.match(await t.say('PUTSCRIPT "e" "keep;"'), /^NO \(QUOTA\/MAXSCRIPTS\)/);
  assert.equal(await t.say('HAVESPACE "a" 5'), "OK\r\n");
  assert.equal(t.backend.scripts("alice@example.test").size, 5);
});

Deno.test("issue21#2: ManageSieve session: bad names, bad commands and an unreachable gateway", async () => {
  const t = setup({ maxBadCommands: 4 });
  await t.say(`AUTHENTICATE "PLAIN" "${plainB64("alice@example.test", "pw")}"`);
  assert.equal(
    await t.say('PUTSCRIPT "a\\\\\tb" "keep;"'),
    'NO "the script name holds control characters"\r\n',
  );
  assert.equal(await t.say('PUTSCRIPT "" "keep;"'), 'NO "the script name is empty"\r\n');
  t.backend.down = true;
  assert.equal(
    await t.say("LISTSCRIPTS"),
    'NO (TRYLATER) "the mail service is unavailable, try again later"\r\n',
  );
  t.backend.down = false;
  assert.equal(await t.say("FROB"), 'NO "unknown command"\r\n');
  assert.equal(await t.say("GETSCRIPT"), 'NO "usage: GETSCRIPT name"\r\n');
  assert.equal(await t.say('"x"'), 'NO "expected a command name"\r\n');
  assert.equal(await t.say("LISTSCRIPTS x"), 'BYE "too many invalid commands"\r\n[close]');
});
