/**
 * Batched federation delivery (docs/federation.md section 6.4) between gateways on loopback over
 * real TLS: a peer that advertises a batch endpoint gets a pass's messages in one request, each
 * with its own envelope and signed receipt; one that does not gets one request per message;
 * a bad delivery in a batch fails only itself (digest, rate limit), a batch lost on the way back
 * is retried and stored once, and the endpoint holds to its advertised bounds.
 */
import { eq } from "drizzle-orm";
import { compactVerify, createLocalJWKSet } from "jose";
import { runFederationOnce } from "../src/federation/worker.ts";
import { signingKey } from "../src/federation/keys.ts";
import { discover } from "../src/federation/discovery.ts";
import { claimOutbox } from "../src/services/outbox_delivery.ts";
import { recordSentMany } from "../src/services/outbox_batch.ts";
import { schema } from "../src/store/store.ts";
import type { FetchPort } from "../src/ports.ts";
import { assert, assertEquals } from "./fixtures/assert.ts";
import { startFederationWorker } from "../hosts/process/federation_runtime.ts";
import { silentLogger } from "../src/ports.ts";
import { type Peer, startFederation } from "./fixtures/federation.ts";

async function send(from: Peer, to: string, subject: string): Promise<string> {
  const res = await from.call("POST", "/v1/emails", {
    as: "alice",
    body: { from: `alice@${from.domain}`, to: [to], subject, text: `${subject}\n` },
  });
  assertEquals(res.status, 201, await res.clone().text());
  return (await res.json()).messageId;
}

/** Subjects in bob's Inbox at `peer`, sorted. */
async function bobsSubjects(peer: Peer): Promise<string[]> {
  const [account] = await peer.deps.store.db.select().from(schema.accounts)
    .where(eq(schema.accounts.address, `bob@${peer.domain}`));
  const rows = await peer.deps.store.db.select().from(schema.messages)
    .where(eq(schema.messages.accountId, account.id));
  return rows.map((r) => r.subject).sort();
}

/**
 * Wraps the sender's fetch port: records each POST's path, and lets `tamper` rewrite a batch
 * request's body or `after` replace the answer.
 */
function watchPosts(peer: Peer) {
  const ports = peer.deps.federation!;
  const inner: FetchPort = ports.fetch;
  const posts: string[] = [];
  const hooks: {
    tamper?: (body: { deliveries: { envelope: string; content: string }[] }) => void;
    /** `n`: the POST's number, counted from 0 when it is sent. */
    after?: (res: Response, n: number) => Promise<Response>;
  } = {};
  ports.fetch = async (request, policy) => {
    if (request.method !== "POST") return await inner(request, policy);
    const path = new URL(request.url).pathname;
    const n = posts.push(path) - 1;
    let forwarded = request;
    if (path.endsWith("/deliver-batch") && hooks.tamper) {
      const body = await request.json();
      hooks.tamper(body);
      forwarded = new Request(request.url, {
        method: "POST",
        headers: request.headers,
        body: JSON.stringify(body),
      });
    }
    const res = await inner(forwarded, policy);
    return hooks.after ? await hooks.after(res, n) : res;
  };
  return { posts, hooks, restore: () => void (ports.fetch = inner) };
}

/** A `watchPosts` hook: the peer took the request, but its answer never reaches the sender. */
async function answerLost(res: Response): Promise<Response> {
  await res.body?.cancel();
  throw new TypeError("connection reset by peer");
}

const count = (posts: string[], path: string) => posts.filter((p) => p === path).length;
const BATCH = "/v1/federation/deliver-batch";
const SINGLE = "/v1/federation/deliver";

Deno.test("issue20#f-batch: a pass's messages to a batching peer go in one request, one signed receipt each", async () => {
  const fed = await startFederation(["alpha.test", "beta.test"]);
  try {
    const [alpha, beta] = fed.peers;
    const doc = await (await beta.call("GET", "/.well-known/sharp?domain=beta.test")).json();
    assertEquals(doc.batch.maxMessages, 32);
    assert(doc.batch.url.endsWith(BATCH), doc.batch.url);
    const watch = watchPosts(alpha);
    const ids: string[] = [];
    const subjects = Array.from({ length: 12 }, (_, i) => `b${String(i + 1).padStart(2, "0")}`);
    for (const subject of subjects) ids.push(await send(alpha, "bob@beta.test", subject));
    // Warm (as in any running server): the signing key and the peer's document are known.
    await signingKey(alpha.deps, "alpha.test");
    await discover(alpha.deps, "beta.test");
    const jobs: number[] = [];
    const previous = alpha.deps.store.onJob;
    alpha.deps.store.onJob = (job) => {
      jobs.push(job.statements);
      previous?.(job);
    };
    assertEquals(await runFederationOnce(alpha.deps, "w"), {
      claimed: 12,
      sent: 12,
      deferred: 0,
      failed: 0,
    });
    alpha.deps.store.onJob = previous;
    // One batch, no single requests.
    assertEquals([count(watch.posts, BATCH), count(watch.posts, SINGLE)], [1, 0]);
    // Two write jobs on the sender: the claim, and the batch's results with their receipts.
    assertEquals(jobs.length, 2, JSON.stringify(jobs));
    assertEquals(await bobsSubjects(beta), subjects);
    // Each message has its own receipt, signed by beta.test over that message's envelope.
    const jwks = createLocalJWKSet(
      await (await beta.call("GET", "/.well-known/sharp/jwks?domain=beta.test")).json(),
    );
    const receipts = await alpha.deps.store.db.select().from(schema.federationReceipts);
    assertEquals(receipts.length, 12);
    const named = [];
    for (const r of receipts) {
      const claims = JSON.parse(
        new TextDecoder().decode((await compactVerify(r.receipt, jwks)).payload),
      );
      assertEquals([claims.iss, claims.aud], ["beta.test", "alpha.test"]);
      assertEquals(claims.messageId, r.messageIdHeader);
      named.push(claims.messageId);
    }
    assertEquals(named.sort(), ids.sort());
    assertEquals((await runFederationOnce(alpha.deps, "w")).claimed, 0);
  } finally {
    await fed.close();
  }
});

Deno.test("issue20#f-batch: a peer without a batch endpoint gets today's one request per message", async () => {
  const fed = await startFederation(
    ["alpha.test", "beta.test"],
    (d) => d === "beta.test" ? { federationBatchMessages: 0 } : {},
  );
  try {
    const [alpha, beta] = fed.peers;
    const doc = await (await beta.call("GET", "/.well-known/sharp?domain=beta.test")).json();
    assertEquals(doc.batch, undefined);
    const off = await beta.call("POST", BATCH, {
      body: { deliveries: [{ envelope: "x", content: "" }] },
    });
    assertEquals(off.status, 404);
    const watch = watchPosts(alpha);
    for (let i = 1; i <= 3; i++) await send(alpha, "bob@beta.test", `s${i}`);
    assertEquals((await runFederationOnce(alpha.deps, "w")).sent, 3);
    assertEquals([count(watch.posts, BATCH), count(watch.posts, SINGLE)], [0, 3]);
    assertEquals(await bobsSubjects(beta), ["s1", "s2", "s3"]);
  } finally {
    await fed.close();
  }
});

Deno.test("issue20#f-batch: batches keep to the peer's advertised size, and the endpoint refuses more", async () => {
  const fed = await startFederation(
    ["alpha.test", "beta.test"],
    (d) => d === "beta.test" ? { federationBatchMessages: 2 } : {},
  );
  try {
    const [alpha, beta] = fed.peers;
    const watch = watchPosts(alpha);
    for (let i = 1; i <= 5; i++) await send(alpha, "bob@beta.test", `c${i}`);
    assertEquals((await runFederationOnce(alpha.deps, "w")).sent, 5);
    // 2 + 2 in batches; the fifth alone goes to the single endpoint.
    assertEquals([count(watch.posts, BATCH), count(watch.posts, SINGLE)], [2, 1]);
    assertEquals((await bobsSubjects(beta)).length, 5);
    const three = Array.from({ length: 3 }, () => ({ envelope: "a.b.c", content: "" }));
    const tooMany = await beta.call("POST", BATCH, { body: { deliveries: three } });
    assertEquals(tooMany.status, 413);
    assertEquals((await tooMany.json()).code, "too_large");
    const big = [{ envelope: "a.b.c", content: "A".repeat(9 * 1024 * 1024) }];
    assertEquals((await beta.call("POST", BATCH, { body: { deliveries: big } })).status, 413);
  } finally {
    await fed.close();
  }
});

Deno.test("issue20#f-batch: a bad delivery fails only itself; the sender's rate limit counts each", async () => {
  const fed = await startFederation(
    ["alpha.test", "beta.test"],
    (d) => d === "beta.test" ? { federationRatePerMinute: 3 } : {},
  );
  try {
    const [alpha, beta] = fed.peers;
    const watch = watchPosts(alpha);
    // The second delivery's content is changed on the way: its signed digest no longer fits.
    let tampered = false;
    watch.hooks.tamper = (body) => {
      if (tampered) return;
      tampered = true;
      const d = body.deliveries[1];
      d.content = btoa(atob(d.content).replace("d2", "dX"));
    };
    for (let i = 1; i <= 5; i++) await send(alpha, "bob@beta.test", `d${i}`);
    const pass = await runFederationOnce(alpha.deps, "w");
    // d2 refused (digest); of the other four, three fit the limit of 3 per minute (each
    // delivery counts, as on the single endpoint) and one is refused (rate_limited).
    assertEquals([pass.sent, pass.deferred], [3, 2]);
    assertEquals([count(watch.posts, BATCH), count(watch.posts, SINGLE)], [1, 0]);
    const stored = await bobsSubjects(beta);
    assertEquals(stored.length, 3);
    assert(!stored.includes("d2"), stored.join());
    const errors = (await alpha.deps.store.db.select().from(schema.outbox))
      .map((r) => r.lastError ?? "").filter(Boolean).sort();
    assert(/digest_mismatch/.test(errors.join(" ")), errors.join("\n"));
    assert(/rate_limited/.test(errors.join(" ")), errors.join("\n"));
  } finally {
    await fed.close();
  }
});

Deno.test("issue20#f-batch: a batch whose answer is lost is sent again and stored once", async () => {
  const fed = await startFederation(["alpha.test", "beta.test"]);
  try {
    const [alpha, beta] = fed.peers;
    const watch = watchPosts(alpha);
    // The peer stores the batch, but its answer never reaches the sender.
    watch.hooks.after = answerLost;
    const subjects = Array.from({ length: 8 }, (_, i) => `r${i + 1}`);
    for (const subject of subjects) await send(alpha, "bob@beta.test", subject);
    assertEquals((await runFederationOnce(alpha.deps, "w")).deferred, 8);
    assertEquals(await bobsSubjects(beta), subjects);
    // The retry falls due: new envelopes and nonces, the same messages.
    watch.hooks.after = undefined;
    await alpha.deps.store.db.update(schema.outbox).set({ nextAttemptAt: Date.now() - 1 });
    assertEquals(await runFederationOnce(alpha.deps, "w"), {
      claimed: 8,
      sent: 8,
      deferred: 0,
      failed: 0,
    });
    // One batch, twice; still one copy of each message.
    assertEquals([count(watch.posts, BATCH), count(watch.posts, SINGLE)], [2, 0]);
    assertEquals(await bobsSubjects(beta), subjects);
    assertEquals((await alpha.deps.store.db.select().from(schema.federationReceipts)).length, 8);
  } finally {
    await fed.close();
  }
});

Deno.test("issue20#f: on the store's writer thread (postern serve), received deliveries run there, a lost answer's batch is stored once, a replayed envelope refused", async () => {
  const fed = await startFederation(["alpha.test", "beta.test"], undefined, {
    writerThread: "marked",
  });
  try {
    const [alpha, beta] = fed.peers;
    const client = beta.deps.store.client as unknown as {
      batchGroup: (jobs: unknown[][]) => Promise<unknown>;
    };
    const threaded = client.batchGroup;
    let onThread = 0;
    client.batchGroup = (group) => {
      onThread += group.length;
      return threaded(group);
    };
    const watch = watchPosts(alpha);
    const replays: { envelope: string; content: string }[] = [];
    watch.hooks.tamper = (body) => void replays.push(...body.deliveries);
    watch.hooks.after = answerLost;
    const subjects = Array.from({ length: 4 }, (_, i) => `t${i + 1}`);
    for (const subject of subjects) await send(alpha, "bob@beta.test", subject);
    assertEquals((await runFederationOnce(alpha.deps, "w")).deferred, 4);
    assertEquals(onThread, 4, "each delivery's write job ran on beta's writer thread");
    assertEquals(await bobsSubjects(beta), subjects);
    // The same envelope again (a replay): refused by its spent nonce, nothing stored.
    const replayed = await beta.app.request(BATCH, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ deliveries: replays.slice(0, 1) }),
    });
    assertEquals(replayed.status, 200);
    assertEquals((await replayed.json()).items[0].code, "replayed_nonce");
    // The retry: new envelopes and nonces, the same messages, still one copy of each.
    watch.hooks.tamper = undefined;
    watch.hooks.after = undefined;
    await alpha.deps.store.db.update(schema.outbox).set({ nextAttemptAt: Date.now() - 1 });
    assertEquals((await runFederationOnce(alpha.deps, "w")).sent, 4);
    assertEquals(await bobsSubjects(beta), subjects);
  } finally {
    await fed.close();
  }
});

Deno.test("issue20#f-batch: a batch's results are one write job, undone whole when a lease was lost", async () => {
  const fed = await startFederation(["alpha.test", "beta.test"]);
  try {
    const [alpha] = fed.peers;
    for (let i = 1; i <= 3; i++) await send(alpha, "bob@beta.test", `l${i}`);
    const claim = await claimOutbox(alpha.deps, {
      worker: "w",
      limit: 10,
      leaseSeconds: 60,
      route: "federation",
    });
    const ids = claim.groups[0].items.map((i) => i.id);
    const entry = (id: number) => ({ id, remoteMta: "beta.test", message: "ok", also: [] });
    // Another worker took the third row (w's lease lapsed): nothing of the job is kept.
    await alpha.deps.store.db.update(schema.outbox).set({ leaseOwner: "other" })
      .where(eq(schema.outbox.id, ids[2]));
    assertEquals(await recordSentMany(alpha.deps, "w", ids.map(entry)), undefined);
    const states = async () =>
      (await alpha.deps.store.db.select().from(schema.outbox).orderBy(schema.outbox.id))
        .map((r) => r.state);
    assertEquals(await states(), ["sending", "sending", "sending"]);
    // The rows still held are recorded together.
    const rows = await recordSentMany(alpha.deps, "w", ids.slice(0, 2).map(entry));
    assertEquals(rows?.map((r) => [r.id, r.state, r.attempts]), [[ids[0], "sent", 1], [
      ids[1],
      "sent",
      1,
    ]]);
    assertEquals(await states(), ["sent", "sent", "sending"]);
  } finally {
    await fed.close();
  }
});

Deno.test("issue20#f: mail queued while a pass waits on a slow peer leaves in a pass beside it", async () => {
  const fed = await startFederation(["alpha.test", "beta.test"]);
  const [alpha, beta] = fed.peers;
  const watch = watchPosts(alpha);
  // The first delivery's answer is held back until the second message has been stored.
  let release = () => {};
  const held = new Promise<void>((r) => release = r);
  watch.hooks.after = async (res, n) => {
    if (n === 0) await held;
    return res;
  };
  const worker = startFederationWorker(alpha.deps, silentLogger, { intervalMs: 3_600_000 });
  try {
    await send(alpha, "bob@beta.test", "slow");
    for (let i = 0; i < 200 && watch.posts.length === 0; i++) {
      await new Promise((r) => setTimeout(r, 25));
    }
    await send(alpha, "bob@beta.test", "beside");
    const states = async () =>
      (await alpha.deps.store.db.select().from(schema.outbox).orderBy(schema.outbox.id))
        .map((r) => r.state);
    let now: string[] = [];
    for (let i = 0; i < 400; i++) {
      now = await states();
      if (now[1] === "sent") break;
      await new Promise((r) => setTimeout(r, 25));
    }
    // "beside" is delivered and recorded while the first pass still waits on its answer.
    assertEquals(now, ["sending", "sent"]);
    assertEquals((await alpha.deps.store.db.select().from(schema.federationReceipts)).length, 1);
    release();
    for (let i = 0; i < 400 && now[0] !== "sent"; i++) {
      await new Promise((r) => setTimeout(r, 25));
      now = await states();
    }
    assertEquals(now, ["sent", "sent"]);
    assertEquals(await bobsSubjects(beta), ["beside", "slow"]);
  } finally {
    release();
    await worker.close();
    await fed.close();
  }
});

Deno.test("issue20#f-batch: a delivery in a batch that needs a proof-of-work stamp goes again alone, stamped", async () => {
  const fed = await startFederation(
    ["alpha.test", "beta.test"],
    (d) => d === "beta.test" ? { federationPowBits: 8 } : {},
  );
  try {
    const [alpha, beta] = fed.peers;
    const watch = watchPosts(alpha);
    const subjects = Array.from({ length: 8 }, (_, i) => `p${i + 1}`);
    for (const subject of subjects) await send(alpha, "bob@beta.test", subject);
    assertEquals((await runFederationOnce(alpha.deps, "w")).sent, 8);
    // Every batch item came back 402 while alpha was unknown, and went again alone.
    assert(count(watch.posts, BATCH) >= 1 && count(watch.posts, SINGLE) >= 1, watch.posts.join());
    assertEquals(await bobsSubjects(beta), subjects);
  } finally {
    await fed.close();
  }
});
