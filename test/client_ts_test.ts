/**
 * The generated TypeScript client (clients/typescript, issue 19 item 6) against a gateway on a
 * real socket: sign in, send, list the recipient's messages, use an API key, and get a typed
 * problem+json error. The `@ts-expect-error` lines are part of the test: `deno test` type-checks
 * this file, so a client whose types stopped catching a wrong path or body fails here.
 */
import { assert, assertEquals } from "./fixtures/assert.ts";
import { ALICE, BOB, createTestGateway } from "./fixtures/app.ts";
import {
  createPosternClient,
  type Problem,
  type Schemas,
  type WebhookPayload,
} from "../clients/typescript/client.ts";

async function listening() {
  const gw = await createTestGateway();
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, gw.app.fetch);
  return {
    gw,
    baseUrl: `http://127.0.0.1:${server.addr.port}/`,
    async close() {
      await server.shutdown();
      gw.close();
    },
  };
}

Deno.test("issue19#6: the typed client signs in, sends, lists messages and gets typed errors", async () => {
  const { baseUrl, close } = await listening();
  try {
    const anonymous = createPosternClient(baseUrl);
    const health = await anonymous.GET("/health");
    assertEquals(health.data?.status, "ok");

    const login = await anonymous.POST("/v1/auth/login", {
      body: { address: ALICE.address, password: ALICE.password },
    });
    assert(login.data, JSON.stringify(login.error));
    const alice = createPosternClient(baseUrl, { accessToken: login.data.accessToken });

    const send: Schemas["TxSendRequest"] = {
      from: ALICE.address,
      to: [BOB.address],
      subject: "From the typed client",
      text: "Hello Bob",
    };
    const sent = await alice.POST("/v1/emails", { body: send });
    assertEquals(sent.response.status, 201);
    assert(sent.data, JSON.stringify(sent.error));
    assert(sent.data.emailId.startsWith("em_"), sent.data.emailId);

    // The timeline of what was sent, by the id the send answered.
    const email = await alice.GET("/v1/emails/{emailId}", {
      params: { path: { emailId: sent.data.emailId } },
    });
    assertEquals(email.data?.recipients.map((r) => r.address), [BOB.address]);

    // Bob signs in with a token function (as an app that refreshes would) and lists his Inbox.
    const bobLogin = await anonymous.POST("/v1/auth/login", {
      body: { address: BOB.address, password: BOB.password },
    });
    let bobToken = bobLogin.data?.accessToken;
    const bob = createPosternClient(baseUrl, { accessToken: () => bobToken });
    const boxes = await bob.GET("/v1/mailboxes");
    const inbox = boxes.data?.items.find((m) => m.role === "inbox");
    assert(inbox, JSON.stringify(boxes.error));
    const list = await bob.GET("/v1/messages", {
      params: { query: { mailboxId: inbox.id, limit: 10 } },
    });
    assertEquals(list.data?.items.map((m) => m.subject), ["From the typed client"]);
    bobToken = undefined;
    const signedOut = await bob.GET("/v1/mailboxes");
    assertEquals(signedOut.response.status, 401);

    // A typed problem+json error: every invalid field listed.
    const bad = await alice.POST("/v1/emails", {
      body: { ...send, from: "not an address", to: [] },
    });
    assertEquals(bad.response.status, 422);
    const problem: Problem | undefined = bad.error;
    assertEquals(problem?.code, "validation_failed");
    assert(problem?.errors?.some((e) => e.path === "from"), JSON.stringify(problem));

    // An API key minted by the session works as the client's credential.
    const key = await alice.POST("/v1/api-keys", {
      body: { name: "typed client", scopes: ["read", "send"] },
    });
    assert(key.data, JSON.stringify(key.error));
    const app = createPosternClient(baseUrl, { apiKey: key.data.key });
    const byKey = await app.POST("/v1/emails", { body: { ...send, subject: "By key" } });
    assertEquals(byKey.response.status, 201, JSON.stringify(byKey.error));

    if (false as boolean) {
      // Never run: these lines only have to fail type-checking.
      // @ts-expect-error a path the document does not have
      await alice.GET("/v1/no-such-route");
      // @ts-expect-error a body without the required `from`
      await alice.POST("/v1/emails", { body: { to: [BOB.address], subject: "x" } });
    }
    // Webhook payload types come from the same document.
    const payload: WebhookPayload<"email.delivered"> = {
      type: "email.delivered",
      timestamp: new Date().toISOString(),
      data: {
        emailId: "em_1",
        messageId: "<1@x>",
        from: ALICE.address,
        to: BOB.address,
        subject: "s",
        tags: [],
        metadata: {},
      },
    };
    assertEquals(payload.type, "email.delivered");
  } finally {
    await close();
  }
});
