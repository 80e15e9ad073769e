/**
 * `GET /v1/emails` (issue 19 item 5): the account's sent emails, newest first, filtered by
 * recipient, sender, subject, tag and status, paged by cursor; another account's emails never
 * appear, and a forged cursor is a clear 422.
 */
import { assert, assertEquals } from "./fixtures/assert.ts";
import { ALICE, BOB, createTestGateway, expectProblem } from "./fixtures/app.ts";

Deno.test("issue19#5: sent emails are listed newest first, filtered and paged by cursor", async () => {
  const gw = await createTestGateway();
  try {
    const alice = await gw.login(ALICE);
    const send = async (body: Record<string, unknown>) => {
      const res = await gw.call("POST", "/v1/emails", {
        token: alice,
        body: { from: ALICE.address, text: "x", ...body },
      });
      assertEquals(res.status, 201, await res.clone().text());
      return (await res.json()).emailId as string;
    };
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) {
      ids.push(
        await send({ to: ["far@away.example"], subject: `Invoice ${i}`, tags: ["billing"] }),
      );
    }
    const welcome = await send({
      to: [BOB.address],
      subject: "Welcome 100% aboard",
      tags: ["onboarding"],
    });
    const list = async (query: string) => {
      const res = await gw.call("GET", `/v1/emails${query}`, { token: alice });
      assertEquals(res.status, 200, await res.clone().text());
      return await res.json() as {
        data: {
          emailId: string;
          subject: string;
          recipients: { address: string; status: string }[];
        }[];
        nextCursor: string | null;
      };
    };

    const all = await list("");
    assertEquals(all.data.map((e) => e.emailId), [welcome, ...ids.toReversed()]);
    assertEquals(all.nextCursor, null);
    assertEquals(all.data[0].recipients, [{ address: BOB.address, status: "delivered" }]);

    assertEquals(
      (await list(`?to=${encodeURIComponent(BOB.address.toUpperCase())}`)).data.map((e) =>
        e.emailId
      ),
      [welcome],
    );
    assertEquals((await list("?tag=billing")).data.length, 5);
    assertEquals((await list("?status=delivered")).data.map((e) => e.emailId), [welcome]);
    assertEquals((await list("?status=queued")).data.length, 5);
    assertEquals((await list("?subject=invoice%203")).data.map((e) => e.subject), ["Invoice 3"]);
    // LIKE wildcards in the filter are literal: "%" matches only a real percent sign.
    assertEquals((await list("?subject=100%25")).data.map((e) => e.emailId), [welcome]);
    assertEquals((await list("?subject=%25%25")).data.length, 0);

    // Paging: 2 at a time reaches every email once, in order.
    const seen: string[] = [];
    let cursor: string | null = "";
    while (cursor !== null) {
      const page = await list(`?limit=2${cursor ? `&cursor=${cursor}` : ""}`);
      seen.push(...page.data.map((e) => e.emailId));
      cursor = page.nextCursor;
    }
    assertEquals(seen, all.data.map((e) => e.emailId));

    // Bob sees none of Alice's emails; a cursor that was not given out is refused clearly.
    const bob = await gw.login(BOB);
    const bobs = await gw.call("GET", "/v1/emails", { token: bob });
    assertEquals((await bobs.json()).data, []);
    await expectProblem(
      await gw.call("GET", "/v1/emails?cursor=bm90LWEtY3Vyc29y", { token: alice }),
      422,
      "validation_failed",
    );
    await expectProblem(
      await gw.call("GET", "/v1/emails?status=nonsense", { token: alice }),
      422,
      "validation_failed",
    );
    assert((await gw.call("GET", "/v1/emails", {})).status === 401);
  } finally {
    gw.close();
  }
});
