/**
 * Acknowledged means stored: a `postern serve` killed with SIGKILL in the middle of a stream of
 * sends is restarted on the same data folder, and every send that was answered 201 is there,
 * exactly once.
 */
import { assert, assertEquals } from "./fixtures/assert.ts";
import { freePort } from "./fixtures/postfix.ts";
import { LISTENERS_OFF } from "./fixtures/serve_env.ts";

const MAIN = new URL("../main.ts", import.meta.url).pathname;
const ADMIN = "admin@postern.localhost";
const PASSWORD = "admin-password-for-tests";

function serve(dataDir: string, http: number) {
  const base = Object.fromEntries(
    Object.entries(Deno.env.toObject()).filter(([k]) => !k.startsWith("POSTERN_")),
  );
  return new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", MAIN, "serve", "--init-if-needed"],
    env: {
      ...base,
      NO_COLOR: "1",
      ...LISTENERS_OFF,
      POSTERN_DATA_DIR: dataDir,
      POSTERN_ADMIN_PASSWORD: PASSWORD,
      POSTERN_HTTP_PORT: String(http),
      POSTERN_SMTP_PORT: "0",
      POSTERN_SUBMISSION_PORT: "0",
      POSTERN_OUTBOUND_PORT: "0",
      POSTERN_LOG_LEVEL: "error",
    },
    clearEnv: true,
    stdout: "null",
    stderr: "null",
  }).spawn();
}

/** Waits (up to 60 s: a loaded CI machine starts the child slowly) for /health. */
async function healthy(url: string): Promise<void> {
  for (let i = 0; i < 600; i++) {
    try {
      const res = await fetch(`${url}/health`);
      await res.body?.cancel();
      if (res.ok) return;
    } catch { /* starting */ }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error("postern serve did not start");
}

async function token(url: string): Promise<string> {
  const res = await fetch(`${url}/v1/auth/login`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ address: ADMIN, password: PASSWORD }),
  });
  return (await res.json()).accessToken;
}

Deno.test("SIGKILL during sends: every acknowledged message survives the restart, once", async () => {
  const dir = await Deno.makeTempDir({ prefix: "postern-crash-" });
  const http = freePort();
  const url = `http://127.0.0.1:${http}`;
  let child = serve(`${dir}/data`, http);
  try {
    await healthy(url);
    const auth = {
      authorization: `Bearer ${await token(url)}`,
      "content-type": "application/json",
    };
    const acknowledged: string[] = [];
    let sent = 0;
    let stop = false;
    const senders = Array.from({ length: 6 }, async () => {
      while (!stop) {
        const subject = `crash-${sent++}`;
        try {
          const res = await fetch(`${url}/v1/emails`, {
            method: "POST",
            headers: auth,
            body: JSON.stringify({ from: ADMIN, to: [ADMIN], subject, text: "x".repeat(2000) }),
          });
          if (res.status === 201) acknowledged.push(subject);
          await res.body?.cancel();
        } catch {
          return; // the server is gone
        }
      }
    });
    // Kill once a fair number of sends has been answered, while more are in flight.
    while (acknowledged.length < 40) await new Promise((r) => setTimeout(r, 20));
    child.kill("SIGKILL");
    await child.status;
    stop = true;
    await Promise.all(senders);

    child = serve(`${dir}/data`, http);
    await healthy(url);
    const bearer = { authorization: `Bearer ${await token(url)}` };
    const subjects: string[] = [];
    let cursor: string | null = null;
    do {
      const page: { items: { subject: string; mailboxId: number }[]; nextCursor: string | null } =
        await (await fetch(
          `${url}/v1/messages?limit=200${cursor ? `&cursor=${cursor}` : ""}`,
          { headers: bearer },
        )).json();
      subjects.push(...page.items.map((m) => m.subject));
      cursor = page.nextCursor;
    } while (cursor);
    // Each send to oneself stores two copies: Sent and Inbox.
    const counts = new Map<string, number>();
    for (const s of subjects) counts.set(s, (counts.get(s) ?? 0) + 1);
    for (const subject of acknowledged) {
      assertEquals(
        counts.get(subject),
        2,
        `${subject} was acknowledged: Sent and Inbox copies, once each`,
      );
    }
    assert([...counts.values()].every((n) => n === 2), "no message is half-stored or doubled");
    assert(acknowledged.length >= 40);
  } finally {
    try {
      child.kill("SIGTERM");
      await child.status;
    } catch { /* already gone */ }
    await Deno.remove(dir, { recursive: true });
  }
});
