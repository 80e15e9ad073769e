/**
 * Tracking, unsubscribe, suppression, returned reports and analytics through the real app:
 * signed click redirects (a tampered link is refused, never redirected), the open pixel, RFC
 * 8058 one-click unsubscribe feeding the suppression list, the suppression API, DSN (RFC 3464)
 * and ARF (RFC 5965) reports matched by VERP or by the returned original, and analytics/CSV.
 */
import { eq } from "drizzle-orm";
import { findAccountByAddress, updateAccount } from "../src/services/accounts.ts";
import { blobBytes } from "../src/services/blob_chunks.ts";
import { schema } from "../src/store/store.ts";
import { assert, assertEquals } from "./fixtures/assert.ts";
import {
  ADMIN,
  ALICE,
  BOB,
  createTestGateway,
  DOMAIN,
  expectProblem,
  type TestGateway,
} from "./fixtures/app.ts";
import { arfReport, dsnReport } from "./fixtures/reports.ts";

const path = (url: string) => new URL(url).pathname;

async function rawOf(gw: TestGateway, messageId: number): Promise<string> {
  const [m] = await gw.deps.store.db.select().from(schema.messages)
    .where(eq(schema.messages.id, messageId));
  const [b] = await gw.deps.store.db.select().from(schema.blobs)
    .where(eq(schema.blobs.sha256, m.blobSha256));
  // Blobs are sealed at rest under the account's data key: read the opened bytes.
  return new TextDecoder().decode(await blobBytes(gw.deps.store.db, b));
}

Deno.test("tracking: signed click redirects and open pixel; one-click unsubscribe suppresses", async () => {
  const gw = await createTestGateway({ publicUrl: "https://mail.postern.test" });
  try {
    const token = await gw.login(ALICE);
    // The domain's settings and suppression list are its administrators' (issue 15 item 4).
    const admin = await gw.login(ADMIN);
    const settings = await gw.call("PATCH", `/v1/domains/${DOMAIN}/sending`, {
      token: admin,
      body: { trackOpens: true, trackClicks: true },
    });
    assertEquals(await settings.json(), {
      domain: DOMAIN,
      trackOpens: true,
      trackClicks: true,
      verp: false,
    });
    const res = await gw.call("POST", "/v1/emails", {
      token,
      body: {
        from: ALICE.address,
        to: [BOB.address],
        subject: "Offer",
        html: '<html><body><a href="https://shop.example/a?x=1&amp;y=2">Shop</a></body></html>',
        unsubscribe: true,
        tags: ["promo"],
      },
    });
    assertEquals(res.status, 201, await res.clone().text());
    const sent = await res.json();
    const raw = (await rawOf(gw, sent.id)).replace(/=\r\n/g, "").replace(/=3D/g, "=");
    const click = /href="(https:\/\/mail\.postern\.test\/v1\/t\/c\/[^"]+)"/.exec(raw)?.[1];
    const pixel = /src="(https:\/\/mail\.postern\.test\/v1\/t\/o\/[^"]+)"/.exec(raw)?.[1];
    assert(click && pixel, "links rewritten and pixel added");
    assert(!raw.includes('href="https://shop.example'), "no untracked link left");
    const unsub = /^List-Unsubscribe:\s*<([^>]+)>/m.exec(raw)?.[1];
    assert(unsub && /^List-Unsubscribe-Post: List-Unsubscribe=One-Click/m.test(raw));

    // Per message, tracking can be switched off whatever the domain's default.
    const plain = await (await gw.call("POST", "/v1/emails", {
      token,
      body: {
        from: ALICE.address,
        to: [`admin@${DOMAIN}`],
        html: '<a href="https://shop.example/b">b</a>',
        tracking: { clicks: false, opens: false },
      },
    })).json();
    const plainRaw = (await rawOf(gw, plain.id)).replace(/=\r\n/g, "").replace(/=3D/g, "=");
    assert(plainRaw.includes('href="https://shop.example/b"') && !plainRaw.includes("/v1/t/"));

    const redirect = await gw.call("GET", path(click));
    assertEquals(redirect.status, 302);
    assertEquals(redirect.headers.get("location"), "https://shop.example/a?x=1&y=2");
    // A link whose signature does not match is refused: no open redirect.
    const [payload, sig] = path(click).split("/").pop()!.split(".");
    const forged = btoa(JSON.stringify({ k: "c", e: sent.emailId, u: "https://evil.example/" }))
      .replaceAll("=", "");
    assertEquals((await gw.call("GET", `/v1/t/c/${forged}.${sig}`)).status, 404);
    assertEquals((await gw.call("GET", `/v1/t/c/${payload}.AAAA${sig.slice(4)}`)).status, 404);
    const gif = await gw.call("GET", path(pixel));
    assertEquals([gif.status, gif.headers.get("content-type")], [200, "image/gif"]);
    await gif.arrayBuffer();

    // RFC 8058: GET only shows a form; the POST unsubscribes.
    const page = await gw.call("GET", path(unsub));
    assertEquals(page.status, 200);
    await page.text();
    assertEquals((await gw.deps.store.db.select().from(schema.txSuppressions)).length, 0);
    const post = await gw.call("POST", path(unsub), {
      body: "List-Unsubscribe=One-Click",
      headers: { "content-type": "application/x-www-form-urlencoded" },
    });
    assertEquals(post.status, 200);
    await post.text();

    const view = await (await gw.call("GET", `/v1/emails/${sent.emailId}`, { token })).json();
    assertEquals(view.events.map((e: { type: string }) => e.type), [
      "queued",
      "sent",
      "delivered",
      "clicked",
      "opened",
      "unsubscribed",
    ]);
    assertEquals(view.recipients[0].status, "unsubscribed");
    const list = await (await gw.call("GET", `/v1/domains/${DOMAIN}/suppressions`, {
      token: admin,
    })).json();
    assertEquals(
      list.suppressions.map((s: { address: string; reason: string }) => [s.address, s.reason]),
      [
        [BOB.address, "unsubscribe"],
      ],
    );
    const again = await gw.call("POST", "/v1/emails", {
      token,
      body: { from: ALICE.address, to: [BOB.address], text: "x" },
    });
    await expectProblem(again, 422, "recipients_suppressed");

    // Analytics: the day, the tag and the CSV export agree.
    const byTag = await (await gw.call("GET", "/v1/analytics?groupBy=tag", { token })).json();
    assertEquals(
      byTag.rows.map((
        r: Record<string, unknown>,
      ) => [r.key, r.sent, r.delivered, r.opened, r.clicked, r.openRate]),
      [
        ["promo", 1, 1, 1, 1, 1],
      ],
    );
    const csv = await gw.call("GET", "/v1/analytics/export?groupBy=day", { token });
    assertEquals(csv.headers.get("content-type"), "text/csv; charset=utf-8");
    const lines = (await csv.text()).trim().split("\r\n");
    assertEquals(
      lines[0],
      "day,sent,delivered,bounced,complained,opened,clicked,deliveryRate,bounceRate,complaintRate,openRate,clickRate",
    );
    assertEquals(lines[1].split(",").slice(1, 7), ["2", "2", "0", "0", "1", "1"]);
  } finally {
    gw.close();
  }
});

Deno.test("suppression API: add, list, delete; managed per domain; a suppressed address is skipped", async () => {
  const gw = await createTestGateway();
  try {
    const token = await gw.login(ALICE);
    // Alice administers her domain: she manages its list (a plain user may not, issue 15 item 4).
    const alice = await findAccountByAddress(gw.deps.store.db, ALICE.address);
    await updateAccount(gw.deps.store, alice!.id, { adminDomains: [DOMAIN] });
    const admin = await gw.login(ADMIN);
    const add = await gw.call("POST", `/v1/domains/${DOMAIN}/suppressions`, {
      token,
      body: { address: "Blocked@Remote.test", detail: "asked by phone" },
    });
    assertEquals(add.status, 201);
    assertEquals((await add.json()).address, "blocked@remote.test");
    const res = await (await gw.call("POST", "/v1/emails", {
      token,
      body: { from: ALICE.address, to: ["blocked@remote.test", "ok@remote.test"], text: "x" },
    })).json();
    assertEquals(res.recipients.map((r: { status: string }) => r.status), ["queued", "suppressed"]);
    assertEquals((await gw.deps.store.db.select().from(schema.outbox)).length, 1);
    const del = await gw.call("DELETE", `/v1/domains/${DOMAIN}/suppressions/blocked@remote.test`, {
      token,
    });
    assertEquals(del.status, 204);
    const after = await (await gw.call("POST", "/v1/emails", {
      token,
      body: { from: ALICE.address, to: ["blocked@remote.test"], text: "x" },
    })).json();
    assertEquals(after.recipients[0].status, "queued");
    const unknown = await gw.call("GET", "/v1/domains/elsewhere.test/suppressions", { token });
    assertEquals(unknown.status, 404);
    // An API key restricted to another domain may not read this one's list.
    await gw.call("POST", "/v1/admin/domains", { token: admin, body: { name: "other.test" } });
    const key = (await (await gw.call("POST", "/v1/api-keys", {
      token: admin,
      body: { name: "other", scopes: ["send"], domains: ["other.test"] },
    })).json()).key;
    const denied = await gw.call("GET", `/v1/domains/${DOMAIN}/suppressions`, { token: key });
    assertEquals(denied.status, 403);
  } finally {
    gw.close();
  }
});

Deno.test("returns: a DSN to the VERP address and an ARF report become bounced/complained events and suppressions", async () => {
  const gw = await createTestGateway();
  try {
    const token = await gw.login(ALICE);
    const admin = await gw.login(ADMIN);
    await gw.call("PATCH", `/v1/domains/${DOMAIN}/sending`, { token: admin, body: { verp: true } });
    const sent = await (await gw.call("POST", "/v1/emails", {
      token,
      body: { from: ALICE.address, to: ["gone@remote.test", "angry@remote.test"], text: "x" },
    })).json();
    const [row] = await gw.deps.store.db.select().from(schema.outbox).limit(1);
    assert(
      /^bounces\+em_[0-9a-f]{24}\.[0-9a-f]{16}@postern\.test$/.test(row.mailFrom),
      row.mailFrom,
    );
    const headers = (await rawOf(gw, sent.id)).split("\r\n\r\n")[0];

    const bridge = (await (await gw.call("POST", "/v1/api-keys", {
      token: admin,
      body: { name: "bridge", scopes: ["bridge"] },
    })).json()).key;
    const post = (body: string, rcpt?: string) =>
      gw.call("POST", `/v1/bridge/tx/returns${rcpt ? `?rcpt=${encodeURIComponent(rcpt)}` : ""}`, {
        token: bridge,
        body: new TextEncoder().encode(body),
        headers: { "content-type": "message/rfc822" },
      });
    assertEquals(
      (await post(dsnReport(row.mailFrom, "gone@remote.test", ""), row.mailFrom)).status,
      200,
    );
    // The same report again (a retried SMTP transaction) records no second event.
    const again = await post(dsnReport(row.mailFrom, "gone@remote.test", ""), row.mailFrom);
    assertEquals((await again.json()).events.length, 1, "the report is still read");
    const bounces = await gw.deps.store.db.select().from(schema.txEvents)
      .where(eq(schema.txEvents.type, "bounced"));
    assertEquals(bounces.length, 1, "one bounced event for one report");
    // A forged return path (bad signature) and a report about an address the message was not
    // sent to change nothing.
    const forged = row.mailFrom.replace(/\.[0-9a-f]{16}@/, ".0000000000000000@");
    const none = await (await post(dsnReport(forged, "angry@remote.test", ""), forged)).json();
    assertEquals(none.events, []);
    const stranger =
      await (await post(dsnReport(row.mailFrom, "ceo@remote.test", ""), row.mailFrom))
        .json();
    assertEquals(stranger.events, []);

    const complaint = await (await post(arfReport("angry@remote.test", headers))).json();
    assertEquals([complaint.kind, complaint.emailId], ["arf", sent.emailId]);
    const tampered = headers.replace(/^Message-ID: .*$/mi, "Message-ID: <other@x>");
    assertEquals((await (await post(arfReport("angry@remote.test", tampered))).json()).events, []);

    const view = await (await gw.call("GET", `/v1/emails/${sent.emailId}`, { token })).json();
    const status = Object.fromEntries(
      view.recipients.map((r: { address: string; status: string }) => [r.address, r.status]),
    );
    assertEquals(status, { "gone@remote.test": "bounced", "angry@remote.test": "complained" });
    const list =
      (await (await gw.call("GET", `/v1/domains/${DOMAIN}/suppressions`, { token: admin }))
        .json()).suppressions.map((s: { address: string; reason: string }) => [s.address, s.reason])
        .sort();
    assertEquals(list, [["angry@remote.test", "complaint"], ["gone@remote.test", "bounce"]]);
    const denied = await gw.call("POST", "/v1/bridge/tx/returns", {
      token,
      body: new TextEncoder().encode("x"),
      headers: { "content-type": "message/rfc822" },
    });
    assertEquals(denied.status, 403, "bridge scope only");
    await denied.body?.cancel();
  } finally {
    gw.close();
  }
});
