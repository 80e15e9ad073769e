/**
 * A real Dovecot IMAP server on loopback for one test, in its own temporary folder with a free
 * port (`dovecot -c FILE`; nothing in /etc is written). Its settings are those of
 * ../shared/peers/dovecot-up.sh (passwd-file users alice/alicepw and bob/bobpw, maildir, the
 * special-use mailboxes), but, like test/fixtures/postfix.ts, it never touches the shared
 * instance under /tmp/peers, so tests and engineers do not stop each other's Dovecot. Also an
 * IMAP response reader (literals included) that turns responses into nested values for
 * structural comparison. Needs root and the Debian package dovecot-imapd.
 */
import { freePort } from "../fixtures/postfix.ts";

export const DOVECOT = "/usr/sbin/dovecot";
export const SEED_DIR = new URL("../../../shared/peers/data/seed/", import.meta.url).pathname;
export const SEED_SCRIPT = new URL("../../../shared/peers/seed-imap.py", import.meta.url).pathname;

export interface Dovecot {
  port: number;
  dir: string;
  log(): Promise<string>;
  stop(): Promise<void>;
}

async function portOpen(port: number): Promise<boolean> {
  try {
    const conn = await Deno.connect({ hostname: "127.0.0.1", port });
    conn.close();
    return true;
  } catch {
    return false;
  }
}

export async function startDovecot(): Promise<Dovecot> {
  const dir = await Deno.makeTempDir({ prefix: "postern-dovecot-" });
  await Deno.chmod(dir, 0o755); // the mail user (5000) and dovenull traverse it
  const port = freePort();
  const mail = `${dir}/mail`;
  await Deno.mkdir(`${dir}/run`, { recursive: true });
  await Deno.mkdir(`${mail}/legacy.test`, { recursive: true });
  await Deno.chown(mail, 5000, 5000);
  await Deno.chown(`${mail}/legacy.test`, 5000, 5000);
  await Deno.writeTextFile(
    `${dir}/users`,
    "alice@legacy.test:{PLAIN}alicepw::::::\nbob@legacy.test:{PLAIN}bobpw::::::\n",
  );
  const special = ["Drafts", "Sent", "Trash", "Junk"].map((m) =>
    `  mailbox ${m} {\n    special_use = \\${m}\n    auto = subscribe\n  }`
  ).join("\n");
  await Deno.writeTextFile(
    `${dir}/dovecot.conf`,
    `base_dir = ${dir}/run
instance_name = postern-test-${port}
log_path = ${dir}/dovecot.log
protocols = imap
listen = 127.0.0.1
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
auth_default_realm = legacy.test
mail_location = maildir:~/Maildir
mail_uid = 5000
mail_gid = 5000
first_valid_uid = 1000
mail_privileged_group =
mailbox_idle_check_interval = 1s
namespace inbox {
  inbox = yes
  separator = /
${special}
}
passdb {
  driver = passwd-file
  args = scheme=PLAIN username_format=%u ${dir}/users
}
userdb {
  driver = static
  args = uid=5000 gid=5000 home=${mail}/%d/%n
}
service imap-login {
  inet_listener imap {
    address = 127.0.0.1
    port = ${port}
  }
  inet_listener imaps {
    port = 0
  }
}
protocol imap {
  mail_max_userip_connections = 100
}
login_trusted_networks = 127.0.0.0/8
`,
  );
  // Dovecot daemonises; its children would hold piped output open, so it gets none.
  const out = await new Deno.Command(DOVECOT, {
    args: ["-c", `${dir}/dovecot.conf`],
    stdin: "null",
    stdout: "null",
    stderr: "null",
  }).output();
  const log = async () => {
    try {
      return await Deno.readTextFile(`${dir}/dovecot.log`);
    } catch {
      return "";
    }
  };
  if (!out.success) {
    throw new Error(`dovecot failed to start:\n${await log()}`);
  }
  for (let i = 0; i < 100 && !(await portOpen(port)); i++) {
    await new Promise((r) => setTimeout(r, 100));
  }
  return {
    port,
    dir,
    log,
    async stop() {
      await new Deno.Command(DOVECOT, {
        args: ["-c", `${dir}/dovecot.conf`, "stop"],
        stdin: "null",
        stdout: "null",
        stderr: "null",
      }).output();
      for (let i = 0; i < 50; i++) {
        try {
          await Deno.stat(`${dir}/run/master.pid`);
        } catch {
          break;
        }
        await new Promise((r) => setTimeout(r, 100));
      }
      await Deno.remove(dir, { recursive: true }).catch(() => {});
    },
  };
}

// ---------------------------------------------------------------------------------------------
// Reading responses

/** A parsed response value: atom or string (both as text), NIL, or a parenthesised list. */
export type Value = string | null | Value[];

export interface Response {
  /** "*", "+" or the command tag. */
  tag: string;
  values: Value[];
}

/** Parses a whole response stream (bytes, literals included) into responses. */
export function parseResponses(bytes: Uint8Array): Response[] {
  const dec = new TextDecoder();
  let i = 0;
  const out: Response[] = [];
  const atEol = () => bytes[i] === 0x0d && bytes[i + 1] === 0x0a;
  const value = (): Value => {
    const c = bytes[i];
    if (c === 0x28) {
      i++;
      const list: Value[] = [];
      while (bytes[i] !== 0x29) {
        if (bytes[i] === 0x20) i++;
        else list.push(value());
      }
      i++;
      return list;
    }
    if (c === 0x22) {
      i++;
      let s: number[] = [];
      while (bytes[i] !== 0x22) {
        if (bytes[i] === 0x5c) i++;
        s.push(bytes[i++]);
      }
      i++;
      const text = dec.decode(new Uint8Array(s));
      s = [];
      return text;
    }
    if (c === 0x7b) {
      const end = bytes.indexOf(0x7d, i);
      const n = Number(dec.decode(bytes.subarray(i + 1, end)).replace("+", ""));
      i = end + 3;
      const text = dec.decode(bytes.subarray(i, i + n));
      i += n;
      return text;
    }
    // An atom; a "[...]" inside it (BODY[HEADER.FIELDS (A B)]) may hold spaces and parens.
    const start = i;
    while (i < bytes.length && bytes[i] !== 0x20 && bytes[i] !== 0x29 && !atEol()) {
      if (bytes[i] === 0x5b) {
        let depth = 0;
        for (; i < bytes.length; i++) {
          if (bytes[i] === 0x5b) depth++;
          else if (bytes[i] === 0x5d && --depth === 0) break;
        }
      }
      if (bytes[i] === 0x28 && i > start) break;
      i++;
    }
    const atom = dec.decode(bytes.subarray(start, i));
    return atom === "NIL" ? null : atom;
  };
  const restOfLine = () => {
    let end = i;
    while (end < bytes.length && !(bytes[end] === 0x0d && bytes[end + 1] === 0x0a)) end++;
    const text = dec.decode(bytes.subarray(i, end));
    i = end;
    return text;
  };
  while (i < bytes.length) {
    const tag = String(value());
    const values: Value[] = [];
    if (tag === "+") restOfLine();
    while (i < bytes.length && !atEol()) {
      if (bytes[i] === 0x20) {
        i++;
        continue;
      }
      const v = value();
      values.push(v);
      // Status responses: keep the response code's name and drop the human-readable text.
      if (values.length === 1 && ["OK", "NO", "BAD", "BYE", "PREAUTH"].includes(String(v))) {
        const text = restOfLine().trim();
        const code = /^\[([^\] ]+)/.exec(text);
        if (code) values.push(code[1]);
      }
    }
    i += 2;
    out.push({ tag, values });
  }
  return out;
}
