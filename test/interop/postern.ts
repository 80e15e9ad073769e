/**
 * A real `postern serve` for interop tests: a subprocess on a temporary data folder with free
 * loopback ports (HTTP, MX, submission), set up through the CLI (`init`, `domain add`,
 * `account add --password-stdin`), plus the few API calls the tests read mail with.
 */
import { LISTENERS_OFF } from "../fixtures/serve_env.ts";
import { freePort, portOpen } from "../fixtures/postfix.ts";

const MAIN = new URL("../../main.ts", import.meta.url).pathname;
export const ADMIN_PASSWORD = "interop-admin-password-1";
export const HOSTNAME = "mx.edge.test";

export interface PosternOptions {
  /** Local domains besides postern.localhost. */
  domains?: string[];
  /** Accounts to create: address → password. */
  accounts?: Record<string, string>;
  /** DNS server ("127.0.0.1:PORT") for inbound SPF/DKIM/DMARC; default: the system's. */
  dnsServer?: string;
}

export interface MessageSummary {
  id: number;
  mailboxId: number;
  subject: string;
  from: { address: string };
}

export interface Postern {
  httpPort: number;
  mxPort: number;
  submissionPort: number;
  dataDir: string;
  /** The self-signed certificate Postern offers with STARTTLS. */
  certFile: string;
  login(address: string, password: string): Promise<string>;
  /** The newest messages of the account (all mailboxes). */
  messages(token: string): Promise<MessageSummary[]>;
  /** The role (inbox, junk, …) of a mailbox id. */
  mailboxRole(token: string, mailboxId: number): Promise<string | undefined>;
  raw(token: string, id: number): Promise<string>;
  /** Polls until a message with this subject is stored, or fails after `ms`. */
  waitForSubject(token: string, subject: string, ms?: number): Promise<MessageSummary>;
  /** What the server wrote on stderr so far. */
  stderr(): string;
  stop(): Promise<void>;
}

function env(extra: Record<string, string>): Record<string, string> {
  const base = Object.fromEntries(
    Object.entries(Deno.env.toObject()).filter(([k]) => !k.startsWith("POSTERN_")),
  );
  return {
    ...base,
    NO_COLOR: "1",
    POSTERN_LOG_LEVEL: "warn",
    POSTERN_HOSTNAME: HOSTNAME,
    POSTERN_SMTP_EARLY_TALKER_MS: "0",
    ...extra,
  };
}

async function cli(args: string[], vars: Record<string, string>, stdin?: string) {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", MAIN, ...args],
    env: env(vars),
    clearEnv: true,
    stdin: stdin === undefined ? "null" : "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  if (stdin !== undefined) {
    const w = child.stdin.getWriter();
    await w.write(new TextEncoder().encode(stdin));
    await w.close();
  }
  const out = await child.output();
  if (!out.success) {
    throw new Error(`postern ${args.join(" ")}: ${new TextDecoder().decode(out.stderr)}`);
  }
  return new TextDecoder().decode(out.stdout);
}

export async function startPostern(opts: PosternOptions = {}): Promise<Postern> {
  const dir = await Deno.makeTempDir({ prefix: "postern-interop-" });
  const dataDir = `${dir}/data`;
  const base = { POSTERN_DATA_DIR: dataDir, POSTERN_ADMIN_PASSWORD: ADMIN_PASSWORD };
  await cli(["init"], base);
  for (const d of opts.domains ?? []) await cli(["domain", "add", d], base);
  for (const [address, password] of Object.entries(opts.accounts ?? {})) {
    await cli(["account", "add", address, "--password-stdin"], base, password + "\n");
  }
  const httpPort = freePort(), mxPort = freePort(), submissionPort = freePort();
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", MAIN, "serve"],
    env: env({
      ...base,
      POSTERN_HTTP_HOST: "127.0.0.1",
      POSTERN_BRIDGE_HOST: "127.0.0.1",
      ...LISTENERS_OFF,
      POSTERN_HTTP_PORT: String(httpPort),
      POSTERN_SMTP_PORT: String(mxPort),
      POSTERN_SUBMISSION_PORT: String(submissionPort),
      POSTERN_SUBMISSIONS_PORT: "0",
      ...(opts.dnsServer ? { POSTERN_DNS_SERVERS: opts.dnsServer } : {}),
    }),
    clearEnv: true,
    stdin: "null",
    stdout: "null",
    stderr: "piped",
  }).spawn();
  let errText = "";
  const reading = (async () => {
    for await (const chunk of child.stderr.pipeThrough(new TextDecoderStream())) errText += chunk;
  })();
  let exited = false;
  const status = child.status.then((s) => {
    exited = true;
    return s;
  });
  const stop = async () => {
    if (!exited) {
      try {
        child.kill("SIGTERM");
      } catch { /* gone */ }
    }
    await status;
    await reading;
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  };
  const url = `http://127.0.0.1:${httpPort}`;
  try {
    let up = false;
    for (let i = 0; i < 300 && !up && !exited; i++) {
      up = await portOpen(mxPort) && await portOpen(submissionPort) && await portOpen(httpPort);
      if (!up) await new Promise((r) => setTimeout(r, 100));
    }
    if (!up) throw new Error(`postern serve did not start:\n${errText}`);
  } catch (e) {
    await stop();
    throw e;
  }
  const get = async (token: string, path: string) => {
    const res = await fetch(url + path, { headers: { authorization: `Bearer ${token}` } });
    if (!res.ok) throw new Error(`GET ${path}: ${res.status} ${await res.text()}`);
    return res;
  };
  const messages = async (token: string) =>
    (await (await get(token, "/v1/messages?limit=50")).json()).items as MessageSummary[];
  return {
    httpPort,
    mxPort,
    submissionPort,
    dataDir,
    certFile: `${dataDir}/tls/cert.pem`,
    async login(address, password) {
      const res = await fetch(`${url}/v1/auth/login`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ address, password }),
      });
      if (!res.ok) throw new Error(`login ${address}: ${res.status} ${await res.text()}`);
      return (await res.json()).accessToken;
    },
    messages,
    async mailboxRole(token, mailboxId) {
      const body = await (await get(token, "/v1/mailboxes")).json();
      const boxes = (body.items ?? body) as { id: number; role?: string }[];
      return boxes.find((b) => b.id === mailboxId)?.role;
    },
    async raw(token, id) {
      return await (await get(token, `/v1/messages/${id}/raw`)).text();
    },
    async waitForSubject(token, subject, ms = 20_000) {
      const until = Date.now() + ms;
      while (true) {
        const found = (await messages(token)).find((m) => m.subject === subject);
        if (found) return found;
        if (Date.now() > until) throw new Error(`no message "${subject}" after ${ms} ms`);
        await new Promise((r) => setTimeout(r, 200));
      }
    },
    stderr: () => errText,
    stop,
  };
}

/** Runs swaks; returns its transcript (stdout + stderr) and exit code, never throws. */
export async function swaks(args: string[]): Promise<{ code: number; out: string }> {
  const out = await new Deno.Command("swaks", {
    args: ["--timeout", "20", ...args],
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = new TextDecoder().decode(out.stdout) + new TextDecoder().decode(out.stderr);
  return { code: out.code, out: text };
}
