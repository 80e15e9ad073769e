/**
 * A private Dovecot with POP3 (and IMAP, for seeding) on free loopback ports for one test, set
 * up as ../shared/peers/dovecot-up.sh sets up the shared one (passwd-file users alice/alicepw,
 * maildir, `pop3_uidl_format = %08Xu%08Xv`) but in its own temporary folder, so it never stops
 * or changes anyone else's Dovecot. Plus a POP3 client that records each command's status line
 * and multi-line body (un-stuffed), for comparing Postern with Dovecot structurally. Needs root
 * and the Debian packages dovecot-imapd and dovecot-pop3d.
 */
import { freePort } from "../fixtures/postfix.ts";

export const DOVECOT = "/usr/sbin/dovecot";
export const SEED_DIR = new URL("../../../shared/peers/data/seed/", import.meta.url).pathname;
export const SEED_SCRIPT = new URL("../../../shared/peers/seed-imap.py", import.meta.url).pathname;

async function portOpen(port: number): Promise<boolean> {
  try {
    (await Deno.connect({ hostname: "127.0.0.1", port })).close();
    return true;
  } catch {
    return false;
  }
}

export interface DovecotPop3 {
  imapPort: number;
  pop3Port: number;
  /** alice's maildir (owned by uid 5000), for seeding by writing files. */
  aliceMaildir: string;
  stop(): Promise<void>;
}

export async function startDovecotPop3(): Promise<DovecotPop3> {
  const dir = await Deno.makeTempDir({ prefix: "postern-dovecot-pop3-" });
  await Deno.chmod(dir, 0o755);
  const imapPort = freePort();
  const pop3Port = freePort();
  const mail = `${dir}/mail`;
  await Deno.mkdir(`${dir}/run`, { recursive: true });
  await Deno.mkdir(`${mail}/legacy.test`, { recursive: true });
  await Deno.chown(mail, 5000, 5000);
  await Deno.chown(`${mail}/legacy.test`, 5000, 5000);
  await Deno.writeTextFile(`${dir}/users`, "alice@legacy.test:{PLAIN}alicepw::::::\n");
  await Deno.writeTextFile(
    `${dir}/dovecot.conf`,
    `base_dir = ${dir}/run
instance_name = postern-pop3-test-${pop3Port}
log_path = ${dir}/dovecot.log
protocols = imap pop3
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
namespace inbox {
  inbox = yes
  separator = /
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
    port = ${imapPort}
  }
  inet_listener imaps {
    port = 0
  }
}
service pop3-login {
  inet_listener pop3 {
    address = 127.0.0.1
    port = ${pop3Port}
  }
  inet_listener pop3s {
    port = 0
  }
}
pop3_uidl_format = %08Xu%08Xv
login_trusted_networks = 127.0.0.0/8
`,
  );
  // stdio "null": the daemon keeps inherited pipes open, so waiting on them would never end.
  const status = await new Deno.Command(DOVECOT, {
    args: ["-c", `${dir}/dovecot.conf`],
    stdin: "null",
    stdout: "null",
    stderr: "null",
  }).output();
  if (!status.success) {
    const log = await Deno.readTextFile(`${dir}/dovecot.log`).catch(() => "");
    throw new Error(`dovecot did not start (exit ${status.code}): ${log}`);
  }
  for (let i = 0; i < 100 && !(await portOpen(pop3Port) && await portOpen(imapPort)); i++) {
    await new Promise((r) => setTimeout(r, 100));
  }
  return {
    imapPort,
    pop3Port,
    aliceMaildir: `${mail}/legacy.test/alice/Maildir`,
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

/** One command's outcome: the status line and, for a multi-line reply, the body's bytes. */
export interface Pop3Reply {
  command: string;
  status: string;
  body?: Uint8Array;
}

const MULTILINE = /^(CAPA|LIST|UIDL|RETR \S+|TOP \S+ \S+)$/i;

/** Runs commands in order over one connection; returns the greeting and every reply. */
export async function pop3Script(port: number, commands: string[]): Promise<Pop3Reply[]> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  let buf = new Uint8Array(0);
  const fill = async () => {
    const chunk = new Uint8Array(65536);
    const n = await conn.read(chunk);
    if (n === null) throw new Error("connection closed");
    const next = new Uint8Array(buf.length + n);
    next.set(buf);
    next.set(chunk.subarray(0, n), buf.length);
    buf = next;
  };
  const line = async (): Promise<Uint8Array> => {
    for (;;) {
      const lf = buf.indexOf(10);
      if (lf >= 0) {
        const out = buf.subarray(0, lf + 1);
        buf = buf.subarray(lf + 1);
        return out;
      }
      await fill();
    }
  };
  const text = (b: Uint8Array) => new TextDecoder().decode(b).replace(/\r?\n$/, "");
  const replies: Pop3Reply[] = [{ command: "", status: text(await line()) }];
  try {
    for (const command of commands) {
      await conn.write(new TextEncoder().encode(command + "\r\n"));
      const status = text(await line());
      const reply: Pop3Reply = { command, status };
      if (status.startsWith("+OK") && MULTILINE.test(command)) {
        const parts: Uint8Array[] = [];
        for (;;) {
          const l = await line();
          if (l.length <= 3 && text(l) === ".") break;
          parts.push(l[0] === 46 ? l.subarray(1) : l); // RFC 1939 section 3: un-stuff
        }
        const body = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
        let at = 0;
        for (const p of parts) {
          body.set(p, at);
          at += p.length;
        }
        reply.body = body;
      }
      replies.push(reply);
    }
  } finally {
    conn.close();
  }
  return replies;
}
