/**
 * Open and click tracking and one-click unsubscribe. Links in the html part are rewritten to
 * `/v1/t/c/<token>` and a 1×1 pixel `/v1/t/o/<token>` is added; each token is signed
 * (signing.ts), so the redirect goes only to a URL this server put in a message — never an open
 * redirect. RFC 8058: `List-Unsubscribe` carries an HTTPS URI and `List-Unsubscribe-Post:
 * List-Unsubscribe=One-Click`; a POST to that URI unsubscribes with no further interaction.
 */
import { eq } from "drizzle-orm";
import type { TxEventType } from "../../schemas/tx_send.ts";
import type { Deps } from "../deps.ts";
import type { Queryable } from "../store/store.ts";
import { rawSql, recordStatements, schema } from "../store/store.ts";
import { activeWebhooks } from "./webhooks.ts";
import { remember } from "../store/read_scope.ts";
import { type LinkClaims, signLink, verifyLink } from "./signing.ts";
import { recordEvent } from "./timeline.ts";

export function publicBase(deps: Deps): string {
  const c = deps.config;
  return (c.publicUrl ?? `http://${c.httpHost}:${c.httpPort}`).replace(/\/+$/, "");
}

export interface TrackingChoice {
  opens: boolean;
  clicks: boolean;
  /** The domain sends with a signed VERP return path. */
  verp: boolean;
}

/** The domain's defaults with the message's overrides applied. */
export async function trackingFor(
  db: Queryable,
  domain: string,
  override: { opens?: boolean; clicks?: boolean },
): Promise<TrackingChoice> {
  // Read for every send: plain SQL (store/store.ts RawSql), as one JSON value that a request
  // with optimistic reads (store/read_scope.ts) caches and its write job compares.
  const name = domain.toLowerCase();
  const settings =
    "(SELECT json_array(track_opens, track_clicks, verp) FROM tx_domain_settings WHERE domain = ?)";
  const found = await remember(
    db,
    `tracking ${name}`,
    async () => (await rawSql(db).get<{ s: string | null }>(`SELECT ${settings} AS s`, [name]))!.s,
    (value) => ({ condition: `${settings} IS ?`, args: [name, value] }),
  );
  const [opens, clicks, verp] = found ? JSON.parse(found) as number[] : [0, 0, 0];
  return {
    opens: override.opens ?? Boolean(opens),
    clicks: override.clicks ?? Boolean(clicks),
    verp: Boolean(verp),
  };
}

const decodeAttr = (v: string) =>
  v.replaceAll("&amp;", "&").replaceAll("&#38;", "&").replaceAll("&quot;", '"');
const encodeAttr = (v: string) => v.replaceAll("&", "&amp;").replaceAll('"', "&quot;");

/** Rewrites http(s) links and adds the open pixel, per the choice. */
export async function applyTracking(
  deps: Deps,
  html: string,
  emailId: string,
  recipient: string | undefined,
  choice: TrackingChoice,
): Promise<string> {
  const base = publicBase(deps);
  let out = html;
  if (choice.clicks) {
    const re = /(<a\b[^>]*?\bhref\s*=\s*)(["'])(https?:\/\/[^"']+)\2/gi;
    const found = [...out.matchAll(re)];
    const replacements = await Promise.all(found.map(async (m) => {
      const claims: LinkClaims = { k: "c", e: emailId, u: decodeAttr(m[3]) };
      if (recipient) claims.r = recipient;
      return `${m[1]}${m[2]}${base}/v1/t/c/${await signLink(deps, claims)}${m[2]}`;
    }));
    let i = 0;
    out = out.replace(re, () => replacements[i++]);
  }
  if (choice.opens) {
    const claims: LinkClaims = { k: "o", e: emailId };
    if (recipient) claims.r = recipient;
    const pixel = `<img src="${
      encodeAttr(`${base}/v1/t/o/${await signLink(deps, claims)}`)
    }" width="1" height="1" alt="" style="display:none">`;
    out = /<\/body>/i.test(out) ? out.replace(/<\/body>/i, `${pixel}</body>`) : out + pixel;
  }
  return out;
}

/** The RFC 8058 header fields for one recipient. */
export async function unsubscribeHeaders(
  deps: Deps,
  emailId: string,
  recipient: string,
): Promise<Record<string, string>> {
  const token = await signLink(deps, { k: "u", e: emailId, r: recipient });
  return {
    "List-Unsubscribe": `<${publicBase(deps)}/v1/unsubscribe/${token}>`,
    "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
  };
}

/** Records an open, click or unsubscribe for a valid token; returns its claims. */
export async function trackHit(
  deps: Deps,
  token: string,
  kind: LinkClaims["k"],
  data: Record<string, unknown> = {},
): Promise<LinkClaims | undefined> {
  const claims = await verifyLink(deps, token);
  if (!claims || claims.k !== kind) return undefined;
  if (kind === "c" && !/^https?:\/\//i.test(claims.u ?? "")) return undefined;
  const type: TxEventType = kind === "o" ? "opened" : kind === "c" ? "clicked" : "unsubscribed";
  const [message] = await deps.store.db.select().from(schema.txMessages)
    .where(eq(schema.txMessages.id, claims.e));
  if (!message) return claims;
  // Read first, then the event (and a suppression, for an unsubscribe) in one write job.
  const hooks = await activeWebhooks(deps.store.db, message.accountId);
  await deps.store.batch(
    await recordStatements((tx) =>
      recordEvent(tx, deps, {
        message,
        recipient: claims.r ?? null,
        type,
        data: kind === "c" ? { url: claims.u, ...data } : data,
        at: deps.clock.now(),
      }, hooks)
    ),
  );
  return claims;
}
