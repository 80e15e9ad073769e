/**
 * How CLI commands that use the HTTP API reach it (`postern send`, `postern queue`): a running
 * server (--url, else $POSTERN_URL, else POSTERN_PUBLIC_URL or the HTTP listener) with an API key
 * or a password sign-in, or with --local the same API in this process on the configured store,
 * acting as an account (operator access: a short session, revoked when the command ends). Every
 * failure names the server that answered and the setting that chose it.
 */
import { API_VERSION, createApp } from "../src/app.ts";
import { signAccessToken } from "../src/auth/tokens.ts";
import { randomToken, sha256Hex } from "../src/crypto.ts";
import { eq } from "drizzle-orm";
import { PEER_HEADER } from "../src/http/client_ip.ts";
import { silentLogger } from "../src/ports.ts";
import { schema, type Store } from "../src/store/store.ts";
import { CliError, EXIT_CONFLICT, EXIT_USAGE, flag, str, usageError, type Values } from "./args.ts";
import { env, loadConfig, masterKey, openConfiguredStore, readStdin } from "./context.ts";
import { buildDeps } from "../hosts/process/deps_node.ts";

export type Caller = (path: string, init?: RequestInit) => Promise<Response>;

/** The server a command talks to, and which setting named it (every message says both). */
export interface Target {
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

/**
 * The problem+json of a failed answer as a CliError: 422 is the caller's usage (exit 2), 409 a
 * conflict with the current state (exit 3), anything else a failure (exit 1).
 */
export async function describeFailure(res: Response, target?: Target): Promise<CliError> {
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
  const code = res.status === 409 ? EXIT_CONFLICT : res.status === 422 ? EXIT_USAGE : 1;
  if (!target) return new CliError(`the server answered ${res.status}`, code, lines);
  if (res.status === 401 || res.status === 404) {
    const who = await whoAnswered(target.base, res);
    lines.push(
      `  the server that answered at ${target.base} is ${who}`,
      `  that URL came from ${target.source}; to talk to another server give ` +
        "--url URL or $POSTERN_URL",
    );
  }
  return new CliError(`the server at ${target.base} answered ${res.status}`, code, lines);
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

const withUserAgent = (
  init: RequestInit = {},
  token: string,
  extra: Record<string, string> = {},
) => ({
  ...init,
  headers: {
    ...init.headers as Record<string, string>,
    "user-agent": `postern-cli/${API_VERSION}`,
    authorization: `Bearer ${token}`,
    ...extra,
  },
});

export interface ApiSession {
  call: Caller;
  target?: Target;
  close(): Promise<void>;
}

/**
 * In-process: an operator session for `address` (or, when `address` is a function, the account
 * it picks from the store), revoked when the command ends.
 */
export async function localSession(
  values: Values,
  address: string | ((store: Store) => Promise<string>),
): Promise<ApiSession> {
  const config = await loadConfig(values);
  const key = await masterKey(config);
  const store = await openConfiguredStore(config);
  const sessionId = crypto.randomUUID();
  try {
    const deps = await buildDeps(config, store, key, silentLogger);
    const wanted = typeof address === "string" ? address : await address(store);
    const [account] = await store.db.select().from(schema.accounts)
      .where(eq(schema.accounts.addressKey, wanted.toLowerCase()));
    if (!account) throw new CliError(`no account ${wanted}`);
    await store.db.insert(schema.sessions).values({
      id: sessionId,
      accountId: account.id,
      refreshHash: await sha256Hex(randomToken()),
      expiresAt: Date.now() + 5 * 60_000,
      userAgent: "postern-cli --local",
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
    return {
      call: async (path, init) =>
        await app.request(path, withUserAgent(init, token, { [PEER_HEADER]: "127.0.0.1" })),
      close: async () => {
        await store.db.update(schema.sessions).set({ revokedAt: Date.now() })
          .where(eq(schema.sessions.id, sessionId)).catch(() => undefined);
        store.close();
      },
    };
  } catch (e) {
    store.close();
    throw e;
  }
}

/**
 * A running server, with --api-key / $POSTERN_API_KEY, else a sign-in as `address` with
 * $POSTERN_PASSWORD or --password-stdin.
 */
export async function remoteSession(values: Values, address?: string): Promise<ApiSession> {
  const e = env();
  const target = await targetOf(values, e);
  const base = target.base;
  // Named before anything is sent: a server other than the intended one may listen there.
  console.error(`postern: talking to ${base} (from ${target.source})`);
  const unreachable = (err: unknown) => {
    throw new CliError(`cannot reach ${base} (from ${target.source}): ${(err as Error).message}`);
  };
  let bearer = str(values, "api-key") ?? e.POSTERN_API_KEY;
  if (!bearer) {
    const password = flag(values, "password-stdin") ? await readStdin() : e.POSTERN_PASSWORD;
    if (!password || !address) {
      throw usageError(
        "no credentials: give --api-key (or $POSTERN_API_KEY), $POSTERN_PASSWORD or " +
          "--password-stdin with the account to sign in as, or use --local",
      );
    }
    const res = await fetch(`${base}/v1/auth/login`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ address, password }),
    }).catch(unreachable);
    if (!res.ok) throw await describeFailure(res, target);
    bearer = (await res.json()).accessToken as string;
  }
  const token = bearer;
  return {
    call: (path, init) => fetch(base + path, withUserAgent(init, token)).catch(unreachable),
    target,
    close: () => Promise.resolve(),
  };
}

/** Calls the API and returns the JSON answer, or throws the failure as a CliError. */
export async function callJson(
  session: ApiSession,
  path: string,
  init?: RequestInit,
): Promise<unknown> {
  const res = await session.call(path, init);
  if (!res.ok) throw await describeFailure(res, session.target);
  return await res.json();
}
