/**
 * JMAP Core (RFC 8620) through the real app: the Session resource, request-level errors
 * (section 3.6.1), method-level errors (3.6.2), result references (3.7), createdIds (3.3),
 * limits and account isolation.
 */
import { assert, assertEquals } from "./fixtures/assert.ts";
import { jmapWorld, type Json, USING } from "./fixtures/jmap.ts";
import { ALICE } from "./fixtures/app.ts";
import { seedMessage } from "./fixtures/mail.ts";

Deno.test("issue19#2: the session resource advertises capabilities, limits, account and URLs", async () => {
  await using w = await jmapWorld();
  const s = w.aliceSession;
  for (const cap of USING) assert(cap in s.capabilities, cap);
  const core = s.capabilities["urn:ietf:params:jmap:core"];
  for (
    const k of [
      "maxSizeUpload",
      "maxConcurrentUpload",
      "maxSizeRequest",
      "maxConcurrentRequests",
      "maxCallsInRequest",
      "maxObjectsInGet",
      "maxObjectsInSet",
    ]
  ) assert(Number.isInteger(core[k]) && core[k] > 0, k);
  assertEquals(s.username, ALICE.address);
  const account = s.accounts[w.aliceAccount];
  assertEquals(account.isPersonal, true);
  assertEquals(account.accountCapabilities["urn:ietf:params:jmap:mail"].maxMailboxesPerEmail, 1);
  assert(s.apiUrl.endsWith("/jmap/api"));
  assert(s.downloadUrl.includes("{accountId}") && s.downloadUrl.includes("{blobId}"));
  assert(s.uploadUrl.includes("{accountId}"));
  assert(s.eventSourceUrl.includes("{types}") && s.eventSourceUrl.includes("{closeafter}"));
  assert(typeof s.state === "string" && s.state.length > 0);
  assert(w.aliceAccount !== w.bobAccount);

  const anonymous = await w.gw.app.request("/.well-known/jmap");
  assertEquals(anonymous.status, 401);
  assert(anonymous.headers.get("www-authenticate")?.includes("Basic"));
});

Deno.test("issue19#2: request-level errors are RFC 8620 3.6.1 problems", async () => {
  await using w = await jmapWorld();
  const problem = async (body: string) => {
    const res = await w.post(w.alice, body);
    assertEquals(res.status, 400);
    assertEquals(res.headers.get("content-type"), "application/problem+json");
    return await res.json();
  };
  assertEquals((await problem("{not json")).type, "urn:ietf:params:jmap:error:notJSON");
  assertEquals(
    (await problem(JSON.stringify({ using: [], methodCalls: {} }))).type,
    "urn:ietf:params:jmap:error:notRequest",
  );
  assertEquals(
    (await problem(JSON.stringify({ using: [], methodCalls: [["a", {}]] }))).type,
    "urn:ietf:params:jmap:error:notRequest",
  );
  const unknown = await problem(JSON.stringify({ using: ["urn:x:nope"], methodCalls: [] }));
  assertEquals(unknown.type, "urn:ietf:params:jmap:error:unknownCapability");
  const max = w.aliceSession.capabilities["urn:ietf:params:jmap:core"].maxCallsInRequest;
  const tooMany = await problem(JSON.stringify({
    using: USING,
    methodCalls: Array.from({ length: max + 1 }, (_, i) => ["Core/echo", {}, `c${i}`]),
  }));
  assertEquals(tooMany.type, "urn:ietf:params:jmap:error:limit");
  assertEquals(tooMany.limit, "maxCallsInRequest");
});

Deno.test("issue19#2: method-level errors, echo and result references (RFC 8620 3.6.2, 3.7)", async () => {
  await using w = await jmapWorld();
  // RFC 8620 section 4.1's example: Core/echo returns its arguments.
  const echo = await w.api([["Core/echo", { hello: true, high: 5 }, "b3ff"]]);
  assertEquals(echo.methodResponses, [["Core/echo", { hello: true, high: 5 }, "b3ff"]]);
  assertEquals(typeof echo.sessionState, "string");

  const r = await w.api([
    ["Nope/get", {}, "a"],
    ["Mailbox/get", { accountId: w.bobAccount }, "b"],
    ["Mailbox/get", { accountId: w.aliceAccount, ids: 5 }, "c"],
    ["Mailbox/get", {
      accountId: w.aliceAccount,
      "#ids": { resultOf: "zz", name: "Mailbox/query", path: "/ids" },
    }, "d"],
    ["Mailbox/get", {
      accountId: w.aliceAccount,
      ids: [],
      "#ids": { resultOf: "zz", name: "X", path: "/" },
    }, "e"],
    ["Mailbox/changes", { accountId: w.aliceAccount, sinceState: "bogus" }, "f"],
    ["Mailbox/query", { accountId: w.aliceAccount, sort: [{ property: "color" }] }, "g"],
    ["Mailbox/query", { accountId: w.aliceAccount, filter: { colour: "red" } }, "h"],
  ]);
  const types = r.methodResponses.map((m: Json) => [m[0], m[1].type, m[2]]);
  assertEquals(types, [
    ["error", "unknownMethod", "a"],
    ["error", "accountNotFound", "b"],
    ["error", "invalidArguments", "c"],
    ["error", "invalidResultReference", "d"],
    ["error", "invalidArguments", "e"],
    ["error", "cannotCalculateChanges", "f"],
    ["error", "unsupportedSort", "g"],
    ["error", "unsupportedFilter", "h"],
  ]);
  // A method whose capability is not in `using` is unknown (section 3.3).
  const core = await w.one(["Mailbox/get", { accountId: w.aliceAccount }, "x"], {
    using: ["urn:ietf:params:jmap:core"],
  });
  assertEquals([core[0], core[1].type], ["error", "unknownMethod"]);

  // Back-references with the `*` path (section 3.7's example shape): query → get → thread.
  await w.api([["Mailbox/get", { accountId: w.aliceAccount }, "0"]]);
  const chained = await w.api([
    ["Mailbox/query", { accountId: w.aliceAccount, filter: { role: "inbox" } }, "q"],
    ["Mailbox/get", {
      accountId: w.aliceAccount,
      "#ids": { resultOf: "q", name: "Mailbox/query", path: "/ids" },
      properties: ["name", "role"],
    }, "g"],
    ["Core/echo", { "#names": { resultOf: "g", name: "Mailbox/get", path: "/list/*/name" } }, "e"],
  ]);
  const [, got] = chained.methodResponses[1];
  assertEquals(got.list.length, 1);
  assertEquals(got.list[0].role, "inbox");
  assertEquals(Object.keys(got.list[0]).sort(), ["id", "name", "role"]);
  assertEquals(chained.methodResponses[2][1], { names: [got.list[0].name] });
});

Deno.test("issue19#2: createdIds and #creationId references across calls (RFC 8620 3.3, 5.3)", async () => {
  await using w = await jmapWorld();
  const r = await w.api([
    ["Mailbox/set", { accountId: w.aliceAccount, create: { p: { name: "Projects" } } }, "1"],
    ["Mailbox/set", {
      accountId: w.aliceAccount,
      create: { c: { name: "Alpha", parentId: "#p" } },
    }, "2"],
    [
      "Mailbox/get",
      { accountId: w.aliceAccount, ids: ["#c"], properties: ["name", "parentId"] },
      "3",
    ],
  ], { createdIds: {} });
  const parent = r.methodResponses[0][1].created.p.id;
  const child = r.methodResponses[1][1].created.c.id;
  assertEquals(r.createdIds, { p: parent, c: child });
  assertEquals(r.methodResponses[2][1].list, [{ id: child, name: "Alpha", parentId: parent }]);
  // The REST API sees the hierarchy JMAP made.
  const boxes = await w.json("GET", "/v1/mailboxes", { token: w.alice });
  assert(boxes.items.some((b: Json) => b.name === "Projects/Alpha"));
});

Deno.test("issue19#2: limits: maxObjectsInGet and maxObjectsInSet are requestTooLarge", async () => {
  await using w = await jmapWorld();
  const core = w.aliceSession.capabilities["urn:ietf:params:jmap:core"];
  const ids = Array.from({ length: core.maxObjectsInGet + 1 }, (_, i) => `e${i + 1}`);
  const get = await w.one(["Email/get", { accountId: w.aliceAccount, ids }, "g"]);
  assertEquals([get[0], get[1].type], ["error", "requestTooLarge"]);
  const destroy = Array.from({ length: core.maxObjectsInSet + 1 }, (_, i) => `e${i + 1}`);
  const set = await w.one(["Email/set", { accountId: w.aliceAccount, destroy }, "s"]);
  assertEquals([set[0], set[1].type], ["error", "requestTooLarge"]);
  const big = JSON.stringify({
    using: USING,
    methodCalls: [["Core/echo", { x: "y".repeat(core.maxSizeRequest) }, "a"]],
  });
  const res = await w.post(w.alice, big);
  assertEquals(res.status, 400);
  assertEquals((await res.json()).limit, "maxSizeRequest");
});

Deno.test("issue19#2: API keys: a read key works, a send-only key reaches no mail and cannot submit", async () => {
  await using w = await jmapWorld();
  const key = async (scopes: string[]) =>
    (await w.json("POST", "/v1/api-keys", {
      token: w.alice,
      body: { name: scopes.join("+"), scopes },
    }, 201))
      .key as string;
  const read = await key(["read"]);
  const send = await key(["send"]);
  const [name] = await w.one(["Mailbox/get", { accountId: w.aliceAccount }, "m"], { token: read });
  assertEquals(name, "Mailbox/get");
  const session = await w.session(read);
  assertEquals(session.primaryAccounts["urn:ietf:params:jmap:submission"], undefined);
  const [, denied] = await w.one([
    "EmailSubmission/set",
    { accountId: w.aliceAccount, create: {} },
    "s",
  ], {
    token: read,
  });
  assertEquals(denied.type, "forbidden");
  const [, none] = await w.one(["Email/query", { accountId: w.aliceAccount }, "q"], {
    token: send,
  });
  assertEquals(none.type, "forbidden");
});

Deno.test("issue19#2: browser clients on other origins may call (CORS; credentials by header only)", async () => {
  await using w = await jmapWorld();
  const pre = await w.gw.app.request("/jmap/api", {
    method: "OPTIONS",
    headers: {
      origin: "https://webmail.example",
      "access-control-request-method": "POST",
      "access-control-request-headers": "authorization, content-type",
    },
  });
  assert(pre.status === 204 || pre.status === 200, String(pre.status));
  assertEquals(pre.headers.get("access-control-allow-origin"), "*");
  assert(pre.headers.get("access-control-allow-headers")?.toLowerCase().includes("authorization"));
  // No cookies are honoured, so no credentials mode is offered.
  assertEquals(pre.headers.get("access-control-allow-credentials"), null);
  const session = await w.gw.app.request("/.well-known/jmap", {
    headers: { origin: "https://webmail.example", authorization: `Bearer ${w.alice}` },
  });
  assertEquals(session.headers.get("access-control-allow-origin"), "*");
  await session.body?.cancel();
  // A malformed escape in the name is taken as written, not a server error.
  const { id } = await seedMessage(w.gw);
  const dl = await w.gw.app.request(
    `/jmap/download/${w.aliceAccount}/B${id}/x%ZZ?accept=text/plain`,
    { headers: { authorization: `Bearer ${w.alice}` } },
  );
  assertEquals(dl.status, 200);
  assert(dl.headers.get("content-disposition")?.includes("x%25ZZ"));
  await dl.body?.cancel();
});

Deno.test("issue19#2: event streams per account are bounded; a closed one frees its slot", async () => {
  await using w = await jmapWorld();
  const open = () =>
    Promise.resolve(w.gw.app.request("/jmap/eventsource?types=*&closeafter=no&ping=0", {
      headers: { authorization: `Bearer ${w.alice}` },
    }));
  const streams: Response[] = [];
  for (let i = 0; i < 10; i++) {
    const res = await open();
    assertEquals(res.status, 200);
    streams.push(res);
  }
  const refused = await open();
  assertEquals(refused.status, 429);
  assertEquals((await refused.json()).limit, "maxEventSources");
  // Bob is not affected by Alice's streams.
  const bob = await w.gw.app.request("/jmap/eventsource?types=*&closeafter=no&ping=0", {
    headers: { authorization: `Bearer ${w.bob}` },
  });
  assertEquals(bob.status, 200);
  await bob.body?.cancel();
  await streams.pop()!.body?.cancel();
  let again: Response | undefined;
  for (let i = 0; i < 50 && again?.status !== 200; i++) {
    await again?.body?.cancel();
    await new Promise((r) => setTimeout(r, 20));
    again = await open();
  }
  assertEquals(again?.status, 200);
  await again?.body?.cancel();
  for (const s of streams) await s.body?.cancel();
});
