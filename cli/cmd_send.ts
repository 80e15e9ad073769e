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

async function describeFailure(res: Response): Promise<CliError> {
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
  return new CliError(`the server answered ${res.status}`, 1, lines);
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

async function sendRemote(values: Values, body: Record<string, unknown>): Promise<unknown> {
  const e = env();
  let base = str(values, "url") ?? e.POSTERN_URL;
  if (!base) {
    const config = await loadConfig(values);
    base = config.publicUrl ?? `http://${config.httpHost}:${config.httpPort}`;
  }
  base = base.replace(/\/+$/, "");
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
      throw new CliError(`cannot reach ${base}: ${(err as Error).message}`);
    });
    if (!res.ok) throw await describeFailure(res);
    bearer = (await res.json()).accessToken as string;
  }
  const token = bearer;
  const call: Caller = (path, init) =>
    http(path, {
      ...init,
      headers: { ...init.headers as Record<string, string>, authorization: `Bearer ${token}` },
    }).catch((err) => {
      throw new CliError(`cannot reach ${base}: ${(err as Error).message}`);
    });
  return await post(call, body);
}

async function post(call: Caller, body: Record<string, unknown>): Promise<unknown> {
  const res = await call("/v1/emails", {
    method: "POST",
    headers: { "content-type": "application/json", "user-agent": `postern-cli/${API_VERSION}` },
    body: JSON.stringify(body),
  });
  if (!res.ok) throw await describeFailure(res);
  return await res.json();
}

export async function sendCommand({ values }: Invocation) {
  const body = await messageBody(values);
  const result = flag(values, "local")
    ? await sendLocal(values, body)
    : await sendRemote(values, body);
  console.log(JSON.stringify(result, null, 2));
}
