/**
 * `postern queue list|retry|cancel`: the outbound queue through its HTTP API (`/v1/queue`,
 * src/routes/queue.ts) — a running server with an admin's API key or password, or `--local`
 * in-process acting as --as (default: the first administrator). Exit codes: 2 bad usage,
 * 3 the entry cannot be retried or cancelled in its state (409), 1 any other failure.
 */
import { eq } from "drizzle-orm";
import type { QueueEntry } from "../schemas/queue.ts";
import { QUEUE_STATES } from "../schemas/queue.ts";
import { schema, type Store } from "../src/store/store.ts";
import { CliError, flag, type Invocation, str, table, usageError, type Values } from "./args.ts";
import { type ApiSession, callJson, localSession, remoteSession } from "./api_client.ts";
import { printJson } from "./context.ts";

async function firstAdmin(store: Store): Promise<string> {
  const [admin] = await store.db.select({ address: schema.accounts.address })
    .from(schema.accounts).where(eq(schema.accounts.role, "admin"))
    .orderBy(schema.accounts.id).limit(1);
  if (!admin) throw new CliError("no administrator account: give --as ADDRESS");
  return admin.address;
}

/** Runs `body` against the API as the queue commands reach it (also `postern reports`). */
export async function withApi<T>(
  values: Values,
  body: (api: ApiSession) => Promise<T>,
): Promise<T> {
  const as = str(values, "as");
  const api = flag(values, "local")
    ? await localSession(values, as ?? firstAdmin)
    : await remoteSession(values, as);
  try {
    return await body(api);
  } finally {
    await api.close();
  }
}

const ago = (iso: string | null) => iso ? iso.replace("T", " ").slice(0, 19) : "-";

export const queueList = ({ values }: Invocation) =>
  withApi(values, async (api) => {
    const state = str(values, "state");
    if (state && !(QUEUE_STATES as readonly string[]).includes(state)) {
      throw usageError(`--state: one of ${QUEUE_STATES.join(", ")}`);
    }
    const limit = str(values, "limit") ?? "50";
    if (!/^\d{1,3}$/.test(limit) || Number(limit) < 1 || Number(limit) > 500) {
      throw usageError("--limit: 1 to 500");
    }
    const query = new URLSearchParams({ limit });
    for (const name of ["state", "recipient", "domain", "cursor"]) {
      const v = str(values, name);
      if (v) query.set(name, v);
    }
    const page = await callJson(api, `/v1/queue?${query}`) as {
      items: QueueEntry[];
      nextCursor: string | null;
    };
    if (flag(values, "json")) return printJson(page);
    if (page.items.length === 0) return console.log("the queue holds nothing that matches");
    console.log(table(
      ["ID", "STATE", "RECIPIENT", "FROM", "TRIES", "NEXT", "LAST FAILURE"],
      page.items.map((e) => [
        e.id,
        e.state,
        e.recipient,
        e.mailFrom || "<>",
        e.attempts,
        ago(e.nextAttemptAt),
        (e.lastError ?? "").slice(0, 60),
      ]),
    ));
    if (page.nextCursor) console.log(`more: --cursor ${page.nextCursor}`);
  });

const act = (verb: "retry" | "cancel") => ({ values, positionals }: Invocation) =>
  withApi(values, async (api) => {
    const id = positionals[0];
    if (!/^\d{1,15}$/.test(id ?? "")) throw usageError("give the queue entry's id (a number)");
    const entry = await callJson(api, `/v1/queue/${id}/${verb}`, { method: "POST" }) as QueueEntry;
    if (flag(values, "json")) return printJson(entry);
    console.log(
      verb === "retry"
        ? `entry ${entry.id} to ${entry.recipient} is due now (${entry.state})`
        : `entry ${entry.id} to ${entry.recipient} is cancelled`,
    );
  });

export const queueRetry = act("retry");
export const queueCancel = act("cancel");
