/**
 * The webhook payloads Postern really posts match the schemas the OpenAPI `webhooks` section
 * shows (schemas/tx_webhooks.ts): sent through the API, read back from the delivery log (the
 * exact bodies that are signed and posted), and checked field by field — a field the sender
 * adds without documenting it fails here, not in someone's receiver.
 */
import { assert, assertEquals } from "./fixtures/assert.ts";
import { ALICE, BOB, createTestGateway } from "./fixtures/app.ts";
import { startTxWorker } from "../src/transactional/worker.ts";
import {
  EmailEventData,
  ReceivedEventData,
  WEBHOOK_EVENTS,
  type WebhookEventType,
} from "../schemas/tx_webhooks.ts";

Deno.test("issue18#3: posted webhook payloads are exactly the documented event schemas", async () => {
  const gw = await createTestGateway({ webhookAllowPrivate: true });
  const worker = startTxWorker(gw.deps, { intervalMs: 1000, timer: false });
  // Nothing listens on port 9: deliveries fail and stay in the log with their payloads.
  const url = "http://127.0.0.1:9/hook";
  try {
    const alice = await gw.login(ALICE);
    const bob = await gw.login(BOB);
    const hook = async (token: string, events: string[]) =>
      (await (await gw.call("POST", "/v1/webhooks", { token, body: { url, events } })).json())
        .webhook.id;
    const aliceHook = await hook(alice, []);
    const bobHook = await hook(bob, ["email.received"]);
    const sent = await gw.call("POST", "/v1/emails", {
      token: alice,
      body: {
        from: ALICE.address,
        to: [BOB.address],
        subject: "Payloads",
        text: "Hello",
        tags: ["welcome"],
        metadata: { user: "42" },
      },
    });
    assertEquals(sent.status, 201);
    await worker.tick();

    const log = async (token: string, id: number) =>
      (await (await gw.call("GET", `/v1/webhooks/${id}/deliveries`, { token })).json())
        .deliveries as { eventType: WebhookEventType; payload: Record<string, unknown> }[];
    const deliveries = [...await log(alice, aliceHook), ...await log(bob, bobHook)];
    const types = deliveries.map((d) => d.eventType).sort();
    assertEquals(types, ["email.delivered", "email.queued", "email.received", "email.sent"]);
    for (const { eventType, payload } of deliveries) {
      const schema = WEBHOOK_EVENTS[eventType];
      const parsed = schema.safeParse(payload);
      assert(parsed.success, `${eventType}: ${JSON.stringify(parsed.error?.issues)}`);
      assertEquals(payload.type, eventType);
      const data = payload.data as Record<string, unknown>;
      const documented = Object.keys(
        (eventType === "email.received" ? ReceivedEventData : EmailEventData).shape,
      );
      const undocumented = Object.keys(data).filter((k) => !documented.includes(k));
      assertEquals(undocumented, [], `${eventType}: fields posted but not documented`);
    }
    const delivered = deliveries.find((d) => d.eventType === "email.delivered")!.payload
      .data as EmailEventData;
    assertEquals([delivered.to, delivered.tags, delivered.metadata], [BOB.address, ["welcome"], {
      user: "42",
    }]);
  } finally {
    await worker.close();
    gw.close();
  }
});
