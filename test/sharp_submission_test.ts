/**
 * Addresses SHARP/1.3 cannot carry (local part over 20 characters, `+`, `~`, …) are refused at
 * submission when the recipient's mail goes over SHARP/1.3 (issue15#17): HTTP sends answer 422
 * problem+json with the reason; SMTP submission answers 553 5.1.3 at RCPT TO for the recipient
 * and 553 5.1.7 after DATA for a From address SHARP cannot send as. The route comes from the
 * gateway's route port (here a fake: b.example is SHARP, smtp.example is not).
 */
import { eq } from "drizzle-orm";
import { schema } from "../src/store/store.ts";
import { assert, assertEquals } from "./fixtures/assert.ts";
import { ADMIN, ALICE, createTestGateway, DOMAIN, type TestGateway } from "./fixtures/app.ts";
import { python, startBridgeWorld } from "./fixtures/bridge.ts";

const sharpRoutes = (gw: TestGateway) => {
  const asked: string[] = [];
  gw.deps.routes = {
    sharp: (domain) => {
      asked.push(domain);
      return Promise.resolve(domain === "b.example");
    },
  };
  return asked;
};

/** An alias of Alice that SHARP/1.3 cannot write as a sender (made by the admin). */
async function longAlias(gw: TestGateway): Promise<string> {
  const address = `alice.has.a.long.name@${DOMAIN}`;
  const res = await gw.call("POST", "/v1/admin/aliases", {
    token: await gw.login(ADMIN),
    body: { address, targets: [ALICE.address] },
  });
  assertEquals(res.status, 201, await res.clone().text());
  return address;
}

Deno.test("issue15#17: HTTP send to an address SHARP/1.3 cannot carry → 422 with the reason; nothing queued", async () => {
  const gw = await createTestGateway();
  const asked = sharpRoutes(gw);
  try {
    const token = await gw.login(ALICE);
    const send = (body: Record<string, unknown>) =>
      gw.call("POST", "/v1/emails", { token, body: { subject: "S", text: "t", ...body } });

    for (
      const [to, why] of [
        ["first.last+news@b.example", "'+'"],
        ["tilde~user@b.example", "'~'"],
        ["a.very.long.name.over.twenty@b.example", "28 characters"],
      ]
    ) {
      const res = await send({ from: ALICE.address, to: [to] });
      assertEquals(res.status, 422, to);
      assertEquals(res.headers.get("content-type"), "application/problem+json");
      const problem = await res.json();
      assertEquals(problem.code, "sharp_unsupported_recipient");
      assert(problem.detail.includes(to) && problem.detail.includes(why), problem.detail);
      assert(problem.detail.includes("SHARP/1.3"), problem.detail);
      assertEquals(problem.errors[0].path, "to");
    }
    assertEquals(await gw.deps.store.db.select().from(schema.outbox), []);

    // The same addresses over SMTP are fine, and carriable SHARP addresses too.
    assertEquals(
      (await send({ from: ALICE.address, to: ["first.last+news@smtp.example"] })).status,
      201,
    );
    assertEquals((await send({ from: ALICE.address, to: ["bob@b.example"] })).status, 201);
    // Only addresses SHARP could not carry make the gateway ask for the route.
    assertEquals(asked, [...Array(3).fill("b.example"), "smtp.example"]);

    // The author is SHARP's sender: a From it cannot write is refused for SHARP recipients only.
    const alias = await longAlias(gw);
    const bad = await send({ from: alias, to: ["bob@b.example"] });
    assertEquals(bad.status, 422);
    const problem = await bad.json();
    assertEquals(problem.code, "sharp_unsupported_sender");
    assertEquals(problem.errors[0].path, "from");
    assert(problem.detail.includes(alias), problem.detail);
    assertEquals((await send({ from: alias, to: ["carol@smtp.example"] })).status, 201);
  } finally {
    gw.close();
  }
});

const SUBMIT = `
import smtplib, ssl, sys
port, user, password, cafile, alias = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5]
ctx = ssl.create_default_context(cafile=cafile)
ctx.check_hostname = False
with smtplib.SMTP("127.0.0.1", port) as s:
    s.starttls(context=ctx)
    s.login(user, password)
    s.mail(user)
    code, text = s.rcpt("first.last+news@b.example")
    print("RCPT plus", code, text.decode())
    code, text = s.rcpt("bob@b.example")
    print("RCPT ok", code)
    s.rset()
    s.mail(user)
    s.rcpt("bob@b.example")
    msg = "From: %s\\r\\nTo: bob@b.example\\r\\nSubject: x\\r\\n\\r\\nhi\\r\\n" % alias
    code, text = s.data(msg.encode())
    print("DATA alias", code, text.decode())
print("DONE")
`;

Deno.test("issue15#17: SMTP submission answers 553 5.1.3 at RCPT and 553 5.1.7 for the From", async () => {
  const world = await startBridgeWorld();
  sharpRoutes(world.gw);
  try {
    const alias = await longAlias(world.gw);
    const out = await python(
      SUBMIT,
      [String(world.submissionPort), ALICE.address, ALICE.password, world.certFile, alias],
    ).catch((e) => String(e));
    assert(/RCPT plus 553 5\.1\.3 .*first\.last\+news@b\.example.*'\+'/.test(out), out);
    assert(out.includes("RCPT ok 250"), out);
    assert(/DATA alias 553 5\.1\.7 .*alice\.has\.a\.long\.name/.test(out), out);
    assert(out.includes("DONE"), out);
    const queued = await world.gw.deps.store.db.select().from(schema.outbox).where(
      eq(schema.outbox.domain, "b.example"),
    );
    assertEquals(queued, []);
  } finally {
    await world.close();
  }
});
