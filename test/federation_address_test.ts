/**
 * Issue 4 item 7: SHARP's `user#domain` is the same address as `user@domain` wherever the API
 * takes one — sign-in, the send API's from/to/cc/bcc and reply-to, admin account and alias
 * creation — and it is always written back as `user@domain`.
 */
import { assertEquals } from "./fixtures/assert.ts";
import { ADMIN, ALICE, BOB, createTestGateway, DOMAIN } from "./fixtures/app.ts";

const hash = (address: string) => address.replace("@", "#");

Deno.test("user#domain is accepted wherever the API takes an address", async () => {
  const gw = await createTestGateway();
  try {
    const token = await gw.login({ address: hash(ALICE.address), password: ALICE.password });
    const sent = await gw.call("POST", "/v1/emails", {
      token,
      body: {
        from: { name: "Alice", address: hash(ALICE.address) },
        to: [hash(BOB.address)],
        cc: [`carol#remote.example`],
        bcc: [hash(ADMIN.address)],
        replyTo: [hash(ALICE.address)],
        subject: "hash",
        text: "x",
      },
    });
    assertEquals(sent.status, 201, await sent.clone().text());
    const out = await sent.json();
    assertEquals(
      out.recipients.map((r: { address: string }) => r.address).sort(),
      [ADMIN.address, BOB.address, "carol@remote.example"].sort(),
    );
    const bob = await gw.login(BOB);
    const list = await (await gw.call("GET", "/v1/messages", { token: bob })).json();
    const detail = await (await gw.call("GET", `/v1/messages/${list.items[0].id}`, { token: bob }))
      .json();
    assertEquals(detail.from.address, ALICE.address);

    const admin = await gw.login(ADMIN);
    const account = await gw.call("POST", "/v1/admin/accounts", {
      token: admin,
      body: { address: `dave#${DOMAIN}`, password: "dave-password-1" },
    });
    assertEquals(account.status, 201, await account.clone().text());
    assertEquals((await account.json()).address, `dave@${DOMAIN}`);
    const alias = await gw.call("POST", "/v1/admin/aliases", {
      token: admin,
      body: { address: `team#${DOMAIN}`, targets: [`dave#${DOMAIN}`] },
    });
    assertEquals(alias.status, 201, await alias.clone().text());
  } finally {
    gw.close();
  }
});
