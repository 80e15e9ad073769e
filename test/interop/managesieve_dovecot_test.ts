/**
 * A Thunderbird-style ManageSieve session (the Sieve add-on's sequence: read the greeting's
 * capabilities, AUTHENTICATE PLAIN, CAPABILITY, LISTSCRIPTS, HAVESPACE before PUTSCRIPT,
 * CHECKSCRIPT while editing, SETACTIVE, GETSCRIPT to reopen, RENAMESCRIPT, keep-alive NOOPs,
 * DELETESCRIPT, LOGOUT) replayed against Dovecot Pigeonhole's managesieved and against
 * Postern over the gateway, compared by response shape: each command's OK/NO/BYE and response
 * code, the data lines (script listings and the downloaded script byte for byte), the line a
 * refused script's first error is on, and the capabilities both must list.
 */
import assert from "node:assert/strict";
import { ALICE, createTestGateway } from "../fixtures/app.ts";
import { managesieveAvailable, startDovecotSieve } from "../fixtures/dovecot_sieve.ts";
import { literal, plain, SieveClient, startGatewaySieve } from "../fixtures/managesieve.ts";
import type { SieveResponse } from "../fixtures/managesieve.ts";

const FILTER = 'require ["fileinto"];\r\n' +
  "# rule: Newsletters\r\n" +
  'if header :contains "list-id" "news" {\r\n  fileinto "Newsletters";\r\n  stop;\r\n}\r\n';
const EDITED = FILTER.replace("Newsletters", "News");
const BROKEN = 'require ["fileinto"];\r\nfileinto "A"\r\nkeep;\r\n';

/** The session; `{user}`/`{plain}` are filled in per server. */
function transcript(user: string, password: string, maxBytes: number): string[] {
  return [
    `AUTHENTICATE "PLAIN" "${plain(user, password)}"`,
    "CAPABILITY",
    "LISTSCRIPTS",
    `HAVESPACE "thunderbird" ${new TextEncoder().encode(FILTER).byteLength}`,
    `CHECKSCRIPT ${literal(BROKEN)}`,
    `CHECKSCRIPT ${literal(FILTER)}`,
    `PUTSCRIPT "thunderbird" ${literal(BROKEN)}`,
    `PUTSCRIPT "thunderbird" ${literal(FILTER)}`,
    'SETACTIVE "thunderbird"',
    "LISTSCRIPTS",
    'GETSCRIPT "thunderbird"',
    'NOOP "sieve-keepalive"',
    `HAVESPACE "thunderbird" ${maxBytes + 1}`,
    `PUTSCRIPT "thunderbird" ${literal(EDITED)}`,
    'GETSCRIPT "thunderbird"',
    `PUTSCRIPT "vacation" ${literal("keep;\r\n")}`,
    'RENAMESCRIPT "vacation" "thunderbird"',
    'RENAMESCRIPT "missing" "other"',
    'RENAMESCRIPT "vacation" "Urlaub"',
    "LISTSCRIPTS",
    'DELETESCRIPT "thunderbird"',
    'SETACTIVE "missing"',
    'SETACTIVE ""',
    'DELETESCRIPT "thunderbird"',
    'DELETESCRIPT "thunderbird"',
    'GETSCRIPT "thunderbird"',
    "LISTSCRIPTS",
    'DELETESCRIPT "Urlaub"',
    "LOGOUT",
  ];
}

interface Shape {
  status: string;
  data: string[];
  errorLine?: number;
}

/** What must match: status word and code, data lines, a refusal's first error line. */
function shape(r: SieveResponse, capability: boolean): Shape {
  const m = r.status.match(/^(OK|NO|BYE)(?: \(([^)]*)\))?/)!;
  const status = m[2] ? `${m[1]} (${m[2].replace(/ ".*"$/, "")})` : m[1];
  const errorLine = r.status.match(/line (\d+):/)?.[1];
  return {
    status,
    // Capability values differ by implementation; their presence is compared apart.
    data: capability ? [] : r.data,
    ...(errorLine ? { errorLine: Number(errorLine) } : {}),
  };
}

const capabilityNames = (r: SieveResponse) =>
  new Map(r.data.map((l) => {
    const m = l.match(/^"([^"]+)"(?: "(.*)")?$/)!;
    return [m[1], m[2] ?? ""];
  }));

async function run(port: number, lines: string[]) {
  const c = await SieveClient.open(port);
  try {
    const greeting = await c.response();
    const out: { command: string; response: SieveResponse }[] = [];
    for (const command of lines) out.push({ command, response: await c.command(command) });
    return { greeting, out };
  } finally {
    c.close();
  }
}

Deno.test({
  name:
    "issue21#2: ManageSieve answers a Thunderbird-style session in the shapes Dovecot Pigeonhole does",
  ignore: !await managesieveAvailable(),
  fn: async () => {
    const gw = await createTestGateway();
    // The folder the transcript's script files into exists, as it does in Dovecot's maildir, so
    // neither side has a warning to give (Postern warns of a missing one: OK (WARNINGS)).
    const made = await gw.call("POST", "/v1/mailboxes", {
      token: await gw.login(ALICE),
      body: { name: "Newsletters" },
    });
    assert.equal(made.status, 201, await made.text());
    const { sieveMaxScriptBytes: bytes, sieveMaxScripts: scripts, sieveMaxRedirects: redirects } =
      gw.deps.config;
    const dovecot = await startDovecotSieve({ bytes, scripts, redirects });
    // Plaintext on loopback for both, as the Dovecot peer has no certificate.
    const listener = await startGatewaySieve(gw, { allowPlaintextAuth: true });
    try {
      const theirs = await run(
        dovecot.port,
        transcript("alice@legacy.test", "alicepw", bytes),
      );
      const ours = await run(listener.port, transcript(ALICE.address, ALICE.password, bytes));

      // The greeting: both list these, with the same values where the protocol fixes them.
      const [dc, pc] = [capabilityNames(theirs.greeting), capabilityNames(ours.greeting)];
      for (const name of ["IMPLEMENTATION", "SASL", "SIEVE", "VERSION"]) {
        assert.ok(dc.has(name) && pc.has(name), name);
      }
      assert.equal(pc.get("SASL"), dc.get("SASL"));
      assert.equal(pc.get("VERSION"), dc.get("VERSION"));
      // The extensions filter editors build on, spelled as Pigeonhole spells them.
      for (const ext of ["fileinto", "reject", "envelope", "vacation", "imap4flags", "copy"]) {
        assert.ok(dc.get("SIEVE")!.split(" ").includes(ext), ext);
        assert.ok(pc.get("SIEVE")!.split(" ").includes(ext), ext);
      }

      const lines = transcript("", "", bytes);
      assert.equal(ours.out.length, theirs.out.length);
      for (const [i, command] of lines.entries()) {
        const capability = command === "CAPABILITY";
        assert.deepEqual(
          shape(ours.out[i].response, capability),
          shape(theirs.out[i].response, capability),
          `${command.slice(0, 40)}\n  Dovecot: ${JSON.stringify(theirs.out[i].response)}\n` +
            `  Postern: ${JSON.stringify(ours.out[i].response)}`,
        );
      }
      // After login both list MAXREDIRECTS with the same limit.
      const after = (r: typeof ours) =>
        capabilityNames(r.out[lines.indexOf("CAPABILITY")].response);
      assert.equal(after(ours).get("MAXREDIRECTS"), after(theirs).get("MAXREDIRECTS"));
      // Neither offers a login mechanism or STARTTLS once logged in.
      for (const r of [ours, theirs]) {
        assert.ok(!after(r).has("SASL") && !after(r).has("STARTTLS"));
      }
    } finally {
      await listener.close();
      await dovecot.stop();
      gw.close();
    }
  },
});
