/**
 * Postern's Sieve against Dovecot's Pigeonhole, the reference implementation most clients are
 * tested with (issue 21 item 2): the same scripts over the same messages must decide the same
 * folders, redirects, rejects and keeps (`sieve-test`), and the same scripts must be valid or
 * refused (`sievec`). Pigeonhole refuses to run as root, so as root it runs as `nobody`.
 */
import { assert, assertEquals } from "./fixtures/assert.ts";
import { headerFields } from "../src/mime/header_block.ts";
import { runSieve } from "../src/sieve/interpreter.ts";
import { parseScript } from "../src/sieve/validate.ts";

const MESSAGE = `From: Carol <carol+news@example.org>
To: Me <me@example.com>, other@example.net
Cc: team@example.com
Subject: [acme-users] Weekly report 42
List-Id: ACME users <acme-users.lists.example.org>
X-Spam-Score: 7
Date: Mon, 7 Dec 2026 09:30:00 -0500
Message-ID: <weekly42@example.org>

Please find the MAKE MONEY numbers below.
`;

const CASES: string[] = [
  `require "fileinto"; if header :contains "subject" "weekly" { fileinto "Reports"; }`,
  `require ["fileinto", "variables"]; if header :matches "subject" "[*] *" { fileinto "lists.\${1}"; }`,
  `require ["fileinto", "variables"]; if header :matches "list-id" "*<*.*>" { fileinto "L/\${2}"; }`,
  `require "fileinto"; if address :domain :is "from" "example.org" { fileinto "Org"; } else { keep; }`,
  `require ["fileinto", "subaddress"]; if address :detail "from" "news" { fileinto "News"; }`,
  `require ["fileinto", "relational", "comparator-i;ascii-numeric"];
   if header :value "ge" :comparator "i;ascii-numeric" "x-spam-score" "5" { fileinto "Junk"; }`,
  `require ["fileinto", "relational", "comparator-i;ascii-numeric"];
   if address :count "eq" :comparator "i;ascii-numeric" ["to", "cc"] "3" { fileinto "Three"; }`,
  `if not exists "x-nope" { redirect "fwd@example.net"; }`,
  `require "copy"; redirect :copy "fwd@example.net";`,
  `require "reject"; if size :over 10 { reject "too big for me"; }`,
  `if anyof (header :is "subject" "nope", address :all :contains "to" "ME@EXAMPLE.COM") { discard; }`,
  `require ["fileinto", "body"]; if body :text :contains "make money" { fileinto "Spam"; }`,
  `require ["fileinto", "date"]; if date :originalzone :is "date" "hour" "09" { fileinto "Nine"; }`,
  `require ["fileinto", "copy"]; fileinto :copy "A"; fileinto "B"; stop; keep;`,
  `require ["fileinto", "variables"]; set :lower "who" "\${0}WORLD"; fileinto "x-\${who}";`,
  `require ["fileinto", "index"]; if header :index 1 :last :contains "to" "other" { fileinto "Last"; }`,
];

/** Scripts both must refuse. */
const INVALID = [
  `fileinto "x";`,
  `require "fileinto"; if header :contains "subject" { fileinto "x"; }`,
  `if true { keep }`,
  `require "nosuchext";`,
  `keep; require "fileinto";`,
  `elsif true { keep; }`,
  `if header :is :contains "a" "b" { keep; }`,
  `require "relational"; if header :value "xx" "a" "b" { keep; }`,
];

/** What a run decided, in one comparable form. */
interface Decision {
  folders: string[];
  redirects: string[];
  reject?: string;
}

const root = Deno.uid?.() === 0;

async function pigeonhole(dir: string, tool: string, args: string[]) {
  const cmd = root ? "runuser" : tool;
  const full = root ? ["-u", "nobody", "--", tool, ...args] : args;
  const out = await new Deno.Command(cmd, {
    args: full,
    cwd: dir,
    stdout: "piped",
    stderr: "piped",
  })
    .output();
  const text = new TextDecoder().decode(out.stdout) + new TextDecoder().decode(out.stderr);
  return { ok: out.success, text };
}

function readActions(text: string): Decision {
  const folders: string[] = [];
  const redirects: string[] = [];
  let reject: string | undefined;
  for (const line of text.split("\n")) {
    let m = /^\s*\* store message in folder: (.*)$/.exec(line);
    if (m) folders.push(m[1].trim());
    m = /^\s*\* redirect message to: <?([^>]*)>?$/.exec(line);
    if (m) redirects.push(m[1].trim());
    m = /^\s*\* reject message with reason: (.*)$/.exec(line);
    if (m) reject = m[1].trim();
  }
  return { folders: folders.sort(), redirects: redirects.sort(), reject };
}

function ours(script: string): Decision {
  const parsed = parseScript(script);
  if (!parsed.ok) throw new Error(JSON.stringify(parsed.errors));
  const head = MESSAGE.split("\n\n")[0];
  const out = runSieve([parsed.program], {
    headers: headerFields(head),
    envelope: { from: "carol+news@example.org", to: "me@example.com" },
    size: new TextEncoder().encode(MESSAGE).length,
    body: {
      parts: [{ contentType: "text/plain", text: MESSAGE.split("\n\n").slice(1).join("\n\n") }],
      raw: MESSAGE.split("\n\n").slice(1).join("\n\n"),
    },
    now: Date.now(),
  });
  const folders = out.fileinto.map((f) => f.mailbox);
  if (out.keep) folders.push("INBOX");
  return {
    folders: folders.sort(),
    redirects: [...out.redirects].sort(),
    reject: out.reject?.reason,
  };
}

async function world() {
  const dir = await Deno.makeTempDir({ prefix: "postern-pigeonhole-" });
  await Deno.chmod(dir, 0o777);
  const user = root ? "nobody" : Deno.env.get("USER") ?? "nobody";
  await Deno.writeTextFile(
    `${dir}/dovecot.conf`,
    `mail_uid = ${user}\nmail_location = maildir:${dir}/mail\n` +
      (root ? "mail_gid = nogroup\n" : ""),
  );
  await Deno.writeTextFile(`${dir}/m.eml`, MESSAGE);
  return dir;
}

Deno.test("issue21#2: Postern's Sieve decides as Pigeonhole's sieve-test does", async () => {
  const dir = await world();
  try {
    for (const [i, script] of CASES.entries()) {
      await Deno.writeTextFile(`${dir}/s${i}.sieve`, script);
      await Deno.chmod(`${dir}/s${i}.sieve`, 0o644);
      const ref = await pigeonhole(dir, "sieve-test", [
        "-c",
        "dovecot.conf",
        `s${i}.sieve`,
        "m.eml",
      ]);
      assert(ref.ok && /Performed actions:/.test(ref.text), `${script}\n${ref.text}`);
      const expected = readActions(ref.text);
      assertEquals(ours(script), expected, `${script}\n${ref.text}`);
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("issue21#2: Postern's validator refuses what Pigeonhole's sievec refuses, and takes what it takes", async () => {
  const dir = await world();
  try {
    for (const [i, script] of [...CASES, ...INVALID].entries()) {
      await Deno.writeTextFile(`${dir}/v${i}.sieve`, script);
      await Deno.chmod(`${dir}/v${i}.sieve`, 0o644);
      const ref = await pigeonhole(dir, "sievec", [
        "-c",
        "dovecot.conf",
        `v${i}.sieve`,
        `v${i}.svbin`,
      ]);
      assertEquals(parseScript(script).ok, ref.ok, `${script}\n${ref.text}`);
      assertEquals(ref.ok, i < CASES.length, `${script}: Pigeonhole ${ref.text}`);
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
