/**
 * The README's tour, walked over HTTP against any running gateway: sign in as the admin, add a
 * user, send them a message with an attachment, list, search, read threads, download the raw
 * message and the attachment, replay the event stream, make an API key and send with it.
 * Prints one line per step and exits 1 at the first step that fails, naming it.
 *
 * Web APIs only (fetch, streams), so it runs under Deno and Bun alike; `.ci/run` walks it
 * against `bun main.ts gateway` (issue 17 item 6: the Bun smoke test walks the whole tour).
 *
 *   deno run --allow-net scripts/tour.ts http://127.0.0.1:8080 admin@postern.localhost PASSWORD
 */
type Json = Record<string, unknown> & { items?: Json[] };

const [base, admin, password] = (globalThis as { Deno?: { args: string[] } }).Deno?.args ??
  (globalThis as unknown as { process: { argv: string[] } }).process.argv.slice(2);
if (!base || !admin || !password) {
  console.error("usage: tour.ts BASE_URL ADMIN_ADDRESS ADMIN_PASSWORD");
  throw new Error("missing arguments");
}
const domain = admin.split("@")[1];
const user = `tour-${Date.now().toString(36)}@${domain}`;

async function call(method: string, path: string, token?: string, body?: unknown) {
  const headers: Record<string, string> = {};
  if (token) headers.authorization = `Bearer ${token}`;
  if (body !== undefined) headers["content-type"] = "application/json";
  return await fetch(`${base}${path}`, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
  });
}

async function json(method: string, path: string, token?: string, body?: unknown, status = 200) {
  const res = await call(method, path, token, body);
  const text = await res.text();
  if (res.status !== status) throw new Error(`${method} ${path}: ${res.status} ${text}`);
  return (text ? JSON.parse(text) : {}) as Json;
}

function check(ok: unknown, what: string): void {
  if (!ok) throw new Error(what);
}

const steps: [string, () => Promise<void>][] = [];
const step = (name: string, run: () => Promise<void>) => steps.push([name, run]);
let token = "";
let userToken = "";
let messageId = "";
const attachment = "tour attachment: figures";

step("health", async () => {
  check((await json("GET", "/health")).status === "ok", "status is not ok");
});
step("sign in as the admin", async () => {
  token = String(
    (await json("POST", "/v1/auth/login", undefined, { address: admin, password }))
      .accessToken,
  );
  check((await json("GET", "/v1/auth/me", token)).address === admin, "me is not the admin");
});
step("add a user", async () => {
  await json(
    "POST",
    "/v1/admin/accounts",
    token,
    { address: user, password: "tour-password-1" },
    201,
  );
  userToken = String(
    (await json("POST", "/v1/auth/login", undefined, {
      address: user,
      password: "tour-password-1",
    }))
      .accessToken,
  );
});
step("send with an attachment", async () => {
  const sent = await json("POST", "/v1/emails", token, {
    from: admin,
    to: [user],
    subject: "Tour message",
    text: "walked by scripts/tour.ts",
    attachments: [{
      filename: "figures.txt",
      contentType: "text/plain",
      content: btoa(attachment),
    }],
  }, 201);
  const recipients = sent.recipients as { status: string }[];
  check(recipients?.[0]?.status === "delivered", `not delivered: ${JSON.stringify(sent)}`);
});
step("mailboxes and the list", async () => {
  const boxes = (await json("GET", "/v1/mailboxes", userToken)).items ?? [];
  check(boxes.some((b) => b.role === "inbox"), "no inbox");
  const list = (await json("GET", "/v1/messages?limit=10", userToken)).items ?? [];
  const found = list.find((m) => m.subject === "Tour message");
  check(found, "the message is not listed");
  messageId = String(found!.id);
});
step("search and threads", async () => {
  const hits = (await json("GET", "/v1/search?q=tour", userToken)).items ?? [];
  check(hits.length >= 1, "search found nothing");
  check(((await json("GET", "/v1/threads", userToken)).items ?? []).length >= 1, "no thread");
});
step("raw message and attachment", async () => {
  const raw = await call("GET", `/v1/messages/${messageId}/raw`, userToken);
  check(raw.status === 200 && /Subject: Tour message/.test(await raw.text()), "raw download");
  const part = await call("GET", `/v1/messages/${messageId}/attachments/0`, userToken);
  check(part.status === 200 && await part.text() === attachment, "attachment download");
});
step("event stream", async () => {
  const res = await call("GET", "/v1/events?since=0", userToken);
  check(res.status === 200 && res.body, `events: ${res.status}`);
  const reader = res.body!.pipeThrough(new TextDecoderStream()).getReader();
  let seen = "";
  const deadline = Date.now() + 10_000;
  while (!seen.includes("message.created") && Date.now() < deadline) {
    const { value, done } = await reader.read();
    if (done) break;
    seen += value;
  }
  await reader.cancel();
  check(seen.includes("event: message.created"), "no message.created event");
});
step("API key send", async () => {
  const key = String(
    (await json("POST", "/v1/api-keys", token, { name: "tour", scopes: ["send"] }, 201)).key,
  );
  const sent = await json("POST", "/v1/emails", key, {
    from: admin,
    to: [user],
    subject: "Tour receipt",
    text: "sent with an API key",
  }, 201);
  check(sent.emailId ?? sent.id, "no id in the answer");
});

for (const [name, run] of steps) {
  try {
    await run();
    console.log(`ok   ${name}`);
  } catch (e) {
    console.log(`FAIL ${name}: ${(e as Error).message}`);
    throw new Error(`tour failed at "${name}"`);
  }
}
console.log(`tour: ${steps.length} steps ok against ${base}`);
