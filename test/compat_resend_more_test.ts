/**
 * More of Resend's API through its own SDK (issue 19 item 1): listing sent emails with its
 * paging (`limit`, `after`, `before`) and managing API keys (create with full or sending access,
 * list, remove); a key never makes a key wider than itself.
 */
import { Resend } from "resend";
import { listen } from "../cli/serve.ts";
import { assert, assertEquals } from "./fixtures/assert.ts";
import { ALICE, createTestGateway, type TestGateway } from "./fixtures/app.ts";

async function apiKey(gw: TestGateway, scopes = ["send", "read"]): Promise<string> {
  const res = await gw.call("POST", "/v1/api-keys", {
    token: await gw.login(ALICE),
    body: { name: "sdk", scopes },
  });
  assertEquals(res.status, 201, await res.clone().text());
  return (await res.json()).key;
}

Deno.test("issue19#1: Resend's SDK lists sent emails newest first and pages with after/before", async () => {
  const gw = await createTestGateway();
  const listener = await listen((req) => gw.app.fetch(req), { hostname: "127.0.0.1", port: 0 });
  try {
    const resend = new Resend(await apiKey(gw), { baseUrl: `http://127.0.0.1:${listener.port}` });
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) {
      const sent = await resend.emails.send({
        from: ALICE.address,
        to: [`r${i}@remote.test`],
        subject: `Note ${i}`,
        text: "x",
      });
      assertEquals(sent.error, null, JSON.stringify(sent.error));
      ids.push(sent.data!.id);
    }
    const newestFirst = ids.toReversed();
    const first = await resend.emails.list({ limit: 2 });
    assertEquals(first.error, null, JSON.stringify(first.error));
    assertEquals(first.data!.data.map((e) => e.id), newestFirst.slice(0, 2));
    assertEquals(first.data!.has_more, true);
    assertEquals(first.data!.data[0].to, ["r4@remote.test"]);
    assertEquals(first.data!.data[0].last_event, "queued");
    const second = await resend.emails.list({ limit: 2, after: newestFirst[1] });
    assertEquals(second.data!.data.map((e) => e.id), newestFirst.slice(2, 4));
    const back = await resend.emails.list({ limit: 2, before: newestFirst[2] });
    assertEquals(back.data!.data.map((e) => e.id), newestFirst.slice(0, 2));
    const all = await resend.emails.list({ limit: 100 });
    assertEquals([all.data!.data.length, all.data!.has_more], [5, false]);
  } finally {
    await listener.shutdown();
    gw.close();
  }
});

Deno.test("issue19#1: Resend's SDK creates, lists and removes API keys, never wider than itself", async () => {
  const gw = await createTestGateway();
  const listener = await listen((req) => gw.app.fetch(req), { hostname: "127.0.0.1", port: 0 });
  const baseUrl = `http://127.0.0.1:${listener.port}`;
  try {
    const resend = new Resend(await apiKey(gw), { baseUrl });
    const made = await resend.apiKeys.create({ name: "ci", permission: "sending_access" });
    assertEquals(made.error, null, JSON.stringify(made.error));
    assert(made.data!.token.startsWith("pst_"));

    // The new key sends, but cannot manage keys or read (sending access only).
    const sending = new Resend(made.data!.token, { baseUrl });
    const sent = await sending.emails.send({
      from: ALICE.address,
      to: "x@remote.test",
      subject: "s",
      text: "t",
    });
    assertEquals(sent.error, null, JSON.stringify(sent.error));
    const refused = await sending.apiKeys.list();
    assertEquals(refused.error?.name, "restricted_api_key");

    const listed = await resend.apiKeys.list();
    assert(listed.data!.data.some((k) => k.id === made.data!.id && k.name === "ci"));
    const removed = await resend.apiKeys.remove(made.data!.id);
    assertEquals(removed.error, null, JSON.stringify(removed.error));
    const after = await sending.emails.send({
      from: ALICE.address,
      to: "x@remote.test",
      subject: "s",
      text: "t",
    });
    assertEquals(after.error?.statusCode, 401, "a removed key stops working");
    assert(!(await resend.apiKeys.list()).data!.data.some((k) => k.id === made.data!.id));

    // A domain restriction the account may not use is refused, not widened.
    const domainKey = await resend.apiKeys.create(
      { name: "d", domain_id: "postern.test" } as never,
    );
    assertEquals(domainKey.error?.statusCode, 403);
    assertEquals((await resend.apiKeys.remove("999999")).error?.name, "not_found");
  } finally {
    await listener.shutdown();
    gw.close();
  }
});
