/**
 * `postern send`: sends one message through the HTTP API (`POST /v1/emails`), either to a
 * running server or, with `--local`, in-process through `app.request` on the configured store.
 */
import { API_VERSION, createApp } from "../src/app.ts";
import { signAccessToken } from "../src/auth/tokens.ts";
import { randomToken, sha256Hex } from "../src/crypto.ts";
import { eq } from "drizzle-orm";
import { PEER_HEADER } from "../src/http/client_ip.ts";
import { silentLogger } from "../src/ports.ts";
import { schema } from "../src/store/store.ts";
import { CliError, flag, type Invocation, list, str, usageError, type Values } from "./args.ts";
import { accountByAddress } from "./cmd_accounts.ts";
import { env, loadConfig, masterKey, openConfiguredStore, readStdin } from "./context.ts";
import { buildDeps } from "./deps_node.ts";

type Caller = (path: string, init: RequestInit) => Promise<Response>;

/** The server `send` talks to, and which setting named it (every message says both). */
interface Target {
  base: string;
  source: string;
}

/**
 * Who answered at `base`: Postern's /health names its version; anything else is another server
 * (its Server header, when it sends one). A 401 from a web server that happens to listen on the
 * configured port otherwise reads like a wrong API key.
 */
async function whoAnswered(base: string, res: Response): Promise<string> {
  const other = `not a Postern server (Server: ${res.headers.get("server") ?? "not given"})`;
  try {
    const health = await fetch(`${base}/health`, { signal: AbortSignal.timeout(3000) });
    const body = await health.json() as { status?: unknown; version?: unknown };
    if (health.ok && body.status === "ok" && typeof body.version === "string") {
      return `Postern ${body.version}`;
    }
  } catch {
    // Not JSON, or no answer: not Postern's /health.
  }
  return other;
}

async function describeFailure(res: Response, target?: Target): Promise<CliError> {
  const text = await res.text();
  let lines: string[] = [];
  try {
    const problem = JSON.parse(text);
    lines = [
      `  ${problem.code ?? ""}: ${problem.detail ?? problem.title ?? text}`,
      ...((problem.errors ?? []) as { path: string; message: string }[]).map((e) =>
        `  - ${e.path}: ${e.message}`
      ),
    ];
  } catch {
    lines = [`  ${text.slice(0, 500)}`];
  }
  if (!target) return new CliError(`the server answered ${res.status}`, 1, lines);
  if (res.status === 401 || res.status === 404) {
    const who = await whoAnswered(target.base, res);
    lines.push(
      `  the server that answered at ${target.base} is ${who}`,
      `  that URL came from ${target.source}; to send through another server give ` +
        "--url URL or $POSTERN_URL",
    );
  }
  return new CliError(`the server at ${target.base} answered ${res.status}`, 1, lines);
}

async function messageBody(values: Values) {
  const from = str(values, "from");
  const to = list(values, "to");
  if (!from) throw usageError("--from is required");
  if (to.length === 0) throw usageError("at least one --to is required");
  let text = str(values, "text");
  if (text === "-") text = await readStdin();
  const html = str(values, "html");
  if (text === undefined && html === undefined) throw usageError("give --text or --html");
  return {
    from,
    to,
    cc: list(values, "cc"),
    bcc: list(values, "bcc"),
    subject: str(values, "subject") ?? "",
    ...(text !== undefined ? { text } : {}),
    ...(html !== undefined ? { html } : {}),
  };
}

/** In-process: an operator session for the sender, revoked when the command ends. */
async function sendLocal(values: Values, body: Record<string, unknown>): Promise<unknown> {
  const config = await loadConfig(values);
  const key = await masterKey(config);
  const store = await openConfiguredStore(config);
  const sessionId = crypto.randomUUID();
  try {
    const deps = await buildDeps(config, store, key, silentLogger);
    const account = await accountByAddress(store, String(body.from));
    await store.db.insert(schema.sessions).values({
      id: sessionId,
      accountId: account.id,
      refreshHash: await sha256Hex(randomToken()),
      expiresAt: Date.now() + 5 * 60_000,
      userAgent: "postern-cli send --local",
      ip: "127.0.0.1",
    });
    const token = await signAccessToken(
      deps.jwtKey,
      config.hostname,
      { accountId: account.id, sessionId },
      300,
      Date.now(),
    );
    const app = createApp(deps);
    const call: Caller = async (path, init) =>
      await app.request(path, {
        ...init,
        headers: {
          ...init.headers as Record<string, string>,
          authorization: `Bearer ${token}`,
          [PEER_HEADER]: "127.0.0.1",
        },
      });
    return await post(call, body);
  } finally {
    await store.db.update(schema.sessions).set({ revokedAt: Date.now() })
      .where(eq(schema.sessions.id, sessionId)).catch(() => undefined);
    store.close();
  }
}

/** --url, else $POSTERN_URL, else the configured public URL or HTTP listener. */
async function targetOf(values: Values, e: Record<string, string | undefined>): Promise<Target> {
  const strip = (url: string) => url.replace(/\/+$/, "");
  const url = str(values, "url");
  if (url) return { base: strip(url), source: "--url" };
  if (e.POSTERN_URL) return { base: strip(e.POSTERN_URL), source: "$POSTERN_URL" };
  const config = await loadConfig(values);
  if (config.publicUrl) {
    return {
      base: strip(config.publicUrl),
      source: "POSTERN_PUBLIC_URL (no --url or $POSTERN_URL)",
    };
  }
  return {
    base: `http://${config.httpHost}:${config.httpPort}`,
    source:
      "POSTERN_HTTP_HOST and POSTERN_HTTP_PORT (no --url, $POSTERN_URL or POSTERN_PUBLIC_URL)",
  };
}

async function sendRemote(values: Values, body: Record<string, unknown>): Promise<unknown> {
  const e = env();
  const target = await targetOf(values, e);
  const base = target.base;
  // Named before anything is sent: a server other than the intended one may listen there.
  console.error(`postern: sending through ${base} (from ${target.source})`);
  const http: Caller = (path, init) => fetch(base + path, init);
  let bearer = str(values, "api-key") ?? e.POSTERN_API_KEY;
  if (!bearer) {
    const password = flag(values, "password-stdin") ? await readStdin() : e.POSTERN_PASSWORD;
    if (!password) {
      throw usageError(
        "no credentials: give --api-key (or $POSTERN_API_KEY), $POSTERN_PASSWORD or " +
          "--password-stdin for the --from account, or use --local",
      );
    }
    const res = await http("/v1/auth/login", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ address: body.from, password }),
    }).catch((err) => {
      throw new CliError(`cannot reach ${base} (from ${target.source}): ${(err as Error).message}`);
    });
    if (!res.ok) throw await describeFailure(res, target);
    bearer = (await res.json()).accessToken as string;
  }
  const token = bearer;
  const call: Caller = (path, init) =>
    http(path, {
      ...init,
      headers: { ...init.headers as Record<string, string>, authorization: `Bearer ${token}` },
    }).catch((err) => {
      throw new CliError(`cannot reach ${base} (from ${target.source}): ${(err as Error).message}`);
    });
  return await post(call, body, target);
}

async function post(
  call: Caller,
  body: Record<string, unknown>,
  target?: Target,
): Promise<unknown> {
  const res = await call("/v1/emails", {
    method: "POST",
    headers: { "content-type": "application/json", "user-agent": `postern-cli/${API_VERSION}` },
    body: JSON.stringify(body),
  });
  if (!res.ok) throw await describeFailure(res, target);
  return await res.json();
}

export async function sendCommand({ values }: Invocation) {
  const body = await messageBody(values);
  const result = flag(values, "local")
    ? await sendLocal(values, body)
    : await sendRemote(values, body);
  console.log(JSON.stringify(result, null, 2));
}
