import { assert, assertEquals } from "./fixtures/assert.ts";
import { blobBytes } from "../src/services/blob_chunks.ts";
import { ALICE, BOB, DOMAIN } from "./fixtures/app.ts";
import { type BridgeWorld, python, startBridgeWorld } from "./fixtures/bridge.ts";
import { schema } from "../src/store/store.ts";
import { eq } from "drizzle-orm";

const MX_CLIENT = `
import smtplib, sys
port = int(sys.argv[1])
msg = "From: Zed <zed@remote.example>\\r\\nTo: alice@postern.test\\r\\nSubject: Over SMTP\\r\\nMessage-ID: <py1@remote.example>\\r\\n\\r\\nHello from smtplib.\\r\\n"
with smtplib.SMTP("127.0.0.1", port, local_hostname="mx.remote.example") as s:
    code, ext = s.ehlo()
    print("EHLO", code, s.has_extn("pipelining"), s.has_extn("starttls"), s.has_extn("auth"))
    s.sendmail("zed@remote.example", ["alice@postern.test"], msg)
    try:
        s.sendmail("zed@remote.example", ["victim@elsewhere.example"], msg)
        print("RELAY accepted")
    except smtplib.SMTPRecipientsRefused as e:
        code, text = e.recipients["victim@elsewhere.example"]
        print("RELAY refused", code)
    try:
        s.sendmail("zed@remote.example", ["ghost@postern.test"], msg)
    except smtplib.SMTPRecipientsRefused as e:
        print("UNKNOWN refused", e.recipients["ghost@postern.test"][0])
print("DONE")
`;

Deno.test("MX: Python smtplib delivers to a local account; relaying and unknown users are refused", async () => {
  const world = await startBridgeWorld();
  try {
    const out = await python(MX_CLIENT, [String(world.mxPort)]);
    assert(out.includes("EHLO 250 True True False"), out);
    assert(out.includes("RELAY refused 550"), out);
    assert(out.includes("UNKNOWN refused 550"), out);
    assert(out.includes("DONE"), out);
    const rows = await world.gw.deps.store.db.select().from(schema.messages);
    assertEquals(rows.length, 1);
    assertEquals(rows[0].subject, "Over SMTP");
    const [blob] = await world.gw.deps.store.db.select().from(schema.blobs).where(
      eq(schema.blobs.sha256, rows[0].blobSha256),
    );
    const raw = new TextDecoder().decode(await blobBytes(world.gw.deps.store.db, blob));
    assert(/^Received: from mx\.remote\.example \(\[127\.0\.0\.1\]\)/.test(raw), raw.slice(0, 200));
    assert(raw.endsWith("Hello from smtplib.\r\n"), "the body is stored byte for byte");
  } finally {
    await world.close();
  }
});

/** Subjects of the messages stored for `address`. */
async function subjectsOf(world: BridgeWorld, address: string): Promise<string[]> {
  const db = world.gw.deps.store.db;
  const [account] = await db.select().from(schema.accounts).where(
    eq(schema.accounts.address, address),
  );
  const rows = await db.select().from(schema.messages).where(
    eq(schema.messages.accountId, account.id),
  );
  return rows.map((m) => m.subject);
}

const SUBMISSION_CLIENT = `
import smtplib, ssl, sys
port, user, password = int(sys.argv[1]), sys.argv[2], sys.argv[3]
ctx = ssl.create_default_context(cafile=sys.argv[4])
ctx.check_hostname = False
msg = "From: %s\\r\\nTo: bob@postern.test, far@away.example\\r\\nSubject: Submitted\\r\\n\\r\\nvia 587\\r\\n" % user
with smtplib.SMTP("127.0.0.1", port) as s:
    s.ehlo()
    try:
        s.login(user, password)
        print("LOGIN before TLS accepted")
    except smtplib.SMTPException as e:
        print("LOGIN before TLS refused")
    s.starttls(context=ctx)
    s.ehlo()
    print("AUTH offered", s.has_extn("auth"))
    try:
        s.login(user, "wrong-password")
    except smtplib.SMTPAuthenticationError as e:
        print("BAD LOGIN", e.smtp_code)
    s.login(user, password)
    s.sendmail(user, ["bob@postern.test", "far@away.example"], msg)
    try:
        s.sendmail("bob@postern.test", ["bob@postern.test"], "From: bob@postern.test\\r\\n\\r\\nforged\\r\\n")
        print("FORGED accepted")
    except smtplib.SMTPDataError as e:
        print("FORGED refused", e.smtp_code)
print("DONE")
`;

Deno.test("submission: STARTTLS before AUTH, then local delivery and a queued remote recipient", async () => {
  const world = await startBridgeWorld();
  try {
    const out = await python(SUBMISSION_CLIENT, [
      String(world.submissionPort),
      ALICE.address,
      ALICE.password,
      world.certFile,
    ]);
    assert(out.includes("LOGIN before TLS refused"), out);
    assert(out.includes("AUTH offered True"), out);
    assert(out.includes("BAD LOGIN 535"), out);
    assert(out.includes("FORGED refused 550"), out);
    assert(out.includes("DONE"), out);
    assertEquals(await subjectsOf(world, BOB.address), ["Submitted"]);
    const queued = await world.gw.deps.store.db.select().from(schema.outbox);
    assertEquals(queued.map((q) => q.rcptTo), ["far@away.example"]);
    assertEquals(queued[0].mailFrom, `alice@${DOMAIN}`);
  } finally {
    await world.close();
  }
});

const IMPLICIT_TLS_CLIENT = `
import smtplib, ssl, sys
port, user, password = int(sys.argv[1]), sys.argv[2], sys.argv[3]
ctx = ssl.create_default_context(cafile=sys.argv[4])
ctx.check_hostname = False
msg = "From: %s\\r\\nTo: bob@postern.test\\r\\nSubject: Over 465\\r\\n\\r\\nimplicit TLS\\r\\n" % user
with smtplib.SMTP_SSL("127.0.0.1", port, context=ctx) as s:
    code, _ = s.ehlo()
    print("EHLO", code, "STARTTLS offered", s.has_extn("starttls"), "AUTH offered", s.has_extn("auth"))
    s.login(user, password)
    s.sendmail(user, ["bob@postern.test"], msg)
try:
    smtplib.SMTP("127.0.0.1", port, timeout=5).ehlo()
    print("PLAINTEXT answered")
except Exception as e:
    print("PLAINTEXT refused")
print("DONE")
`;

Deno.test("submissions: implicit TLS (RFC 8314) from the first byte, AUTH and delivery", async () => {
  const world = await startBridgeWorld();
  try {
    const out = await python(IMPLICIT_TLS_CLIENT, [
      String(world.submissionsPort),
      ALICE.address,
      ALICE.password,
      world.certFile,
    ]);
    assert(out.includes("EHLO 250 STARTTLS offered False AUTH offered True"), out);
    assert(out.includes("PLAINTEXT refused"), out);
    assert(out.includes("DONE"), out);
    assertEquals(await subjectsOf(world, BOB.address), ["Over 465"]);
  } finally {
    await world.close();
  }
});
