/**
 * Discovery of a domain's federation peer (docs/federation.md section 3): a TXT record
 * `_sharp.D` = `v=sharp1; host=H[:port]` delegates to `https://H/.well-known/sharp?domain=D`;
 * without one, `https://D/.well-known/sharp`. Answers are cached in the store (shared by every
 * process) with the document's ttl, capped by configuration; failures are cached for the
 * negative ttl. A delegated domain whose document cannot be fetched stays a federation route
 * (status `error`: its mail waits and retries) rather than falling back to SMTP, and a
 * domain whose refresh fails keeps its last document. Also the peers' JWKS cache, refreshed on
 * an unknown kid.
 */
import { eq } from "drizzle-orm";
import { DiscoveryDocument, FEDERATION_VERSION, FederationJwks } from "../../schemas/federation.ts";
import type { Deps } from "../deps.ts";
import { schema } from "../store/store.ts";
import { federationPolicy, guardedFetch } from "../http/net_guard.ts";

export type PeerStatus = "peer" | "none" | "error";

export interface Peer {
  domain: string;
  status: PeerStatus;
  document?: DiscoveryDocument;
  detail?: string;
  expiresAt: number;
}

const FETCH_TIMEOUT_MS = 10_000;
const MAX_DOC_BYTES = 64 * 1024;

/** Parses `v=sharp1; host=H[:port]`; undefined when the record is not ours. */
export function parseDelegation(txt: string): string | undefined {
  const fields = new Map<string, string>();
  for (const part of txt.split(";")) {
    const [k, ...v] = part.trim().split("=");
    if (k) fields.set(k.trim().toLowerCase(), v.join("=").trim());
  }
  if (fields.get("v") !== "sharp1") return undefined;
  const host = fields.get("host");
  return host && /^[A-Za-z0-9.\-:\[\]]+$/.test(host) ? host : undefined;
}

/** Fetches JSON through the federation fetch port, SSRF-checked (section 3.4), size-capped. */
export async function fetchJson(deps: Deps, url: string): Promise<unknown> {
  const res = await guardedFetch(
    deps,
    deps.federation!.fetch,
    new Request(url, {
      headers: { accept: "application/json" },
      redirect: "manual",
      signal: AbortSignal.timeout(FETCH_TIMEOUT_MS),
    }),
    federationPolicy(deps),
  );
  if (!res.ok) {
    await res.body?.cancel();
    throw new Error(`${url} answered ${res.status}`);
  }
  const text = await res.text();
  if (text.length > MAX_DOC_BYTES) throw new Error(`${url}: document too large`);
  return JSON.parse(text);
}

const memory = new WeakMap<Deps, Map<string, Peer>>();
const cacheOf = (deps: Deps) => {
  let m = memory.get(deps);
  if (!m) memory.set(deps, m = new Map());
  return m;
};

async function lookup(deps: Deps, domain: string, previous?: Peer): Promise<Peer> {
  const now = deps.clock.now();
  const negative = now + deps.config.federationNegativeTtlSeconds * 1000;
  let delegated: string | undefined;
  try {
    const records = await deps.federation!.dns.txt(`_sharp.${domain}`);
    delegated = records.map((r) => parseDelegation(r.join(""))).find(Boolean);
  } catch {
    // No delegation record (or DNS trouble): try the domain itself.
  }
  const url = delegated
    ? `https://${delegated}/.well-known/sharp?domain=${encodeURIComponent(domain)}`
    : `https://${domain}/.well-known/sharp`;
  try {
    const parsed = DiscoveryDocument.safeParse(await fetchJson(deps, url));
    if (!parsed.success) throw new Error("the discovery document is malformed");
    const doc = parsed.data;
    if (doc.domain !== domain) throw new Error(`the document is for ${doc.domain}`);
    if (!doc.versions.includes(FEDERATION_VERSION)) throw new Error("no shared protocol version");
    const ttl = Math.min(doc.ttl, deps.config.federationDiscoveryTtlSeconds);
    return { domain, status: "peer", document: doc, expiresAt: now + Math.max(ttl, 1) * 1000 };
  } catch (e) {
    const detail = (e as Error).message.slice(0, 300);
    // A domain that said it federates (delegation, or an earlier document) keeps that route.
    if (delegated || previous?.document) {
      return { domain, status: "error", document: previous?.document, detail, expiresAt: negative };
    }
    return { domain, status: "none", detail, expiresAt: negative };
  }
}

function fromRow(row: typeof schema.federationPeers.$inferSelect): Peer {
  return {
    domain: row.domain,
    status: row.status,
    document: row.document ? JSON.parse(row.document) : undefined,
    detail: row.detail ?? undefined,
    expiresAt: row.expiresAt,
  };
}

/** The domain's peer, from the caches or looked up now (never throws). */
export async function discover(deps: Deps, domain: string, force = false): Promise<Peer> {
  const now = deps.clock.now();
  const cache = cacheOf(deps);
  const hot = cache.get(domain);
  if (!force && hot && hot.expiresAt > now) return hot;
  const [row] = await deps.store.db.select().from(schema.federationPeers)
    .where(eq(schema.federationPeers.domain, domain));
  const stored = row ? fromRow(row) : undefined;
  if (!force && stored && stored.expiresAt > now) {
    cache.set(domain, stored);
    return stored;
  }
  const peer = await lookup(deps, domain, stored);
  const values = {
    status: peer.status,
    document: peer.document ? JSON.stringify(peer.document) : null,
    detail: peer.detail ?? null,
    fetchedAt: now,
    expiresAt: peer.expiresAt,
  };
  await deps.store.db.insert(schema.federationPeers).values({ domain, ...values })
    .onConflictDoUpdate({ target: schema.federationPeers.domain, set: values });
  cache.set(domain, peer);
  deps.logger.log("info", "federation.discovered", {
    domain,
    status: peer.status,
    detail: peer.detail,
  });
  return peer;
}

/** Forgets cached discovery and keys (tests, and `postern` after a peer changes host). */
export function forgetPeer(deps: Deps, domain: string): void {
  cacheOf(deps).delete(domain);
  jwksOf(deps).delete(domain);
}

interface CachedJwks {
  jwks: FederationJwks;
  fetchedAt: number;
  expiresAt: number;
}

/**
 * A forced refresh (unknown kid) waits this long after the last fetch, so envelopes with made-up
 * kids cannot turn this server into a flood of requests at the domain they name.
 */
export const JWKS_REFRESH_COOLDOWN_MS = 1000;

const jwksMemory = new WeakMap<Deps, Map<string, CachedJwks | Promise<FederationJwks>>>();
const jwksOf = (deps: Deps) => {
  let m = jwksMemory.get(deps);
  if (!m) jwksMemory.set(deps, m = new Map());
  return m;
};

/**
 * A peer domain's JWKS: cached for its discovery ttl; `refresh` refetches (a kid we do not
 * know may be a key published since), at most once per cooldown. Concurrent fetches for one
 * domain share one request.
 */
export async function peerJwks(
  deps: Deps,
  domain: string,
  refresh = false,
): Promise<FederationJwks> {
  const cache = jwksOf(deps);
  const now = deps.clock.now();
  const hit = cache.get(domain);
  if (hit instanceof Promise) return await hit;
  if (hit && hit.expiresAt > now) {
    if (!refresh || now - hit.fetchedAt < JWKS_REFRESH_COOLDOWN_MS) return hit.jwks;
  }
  const pending = (async () => {
    const peer = await discover(deps, domain);
    if (!peer.document) throw new Error(peer.detail ?? `${domain} publishes no federation keys`);
    const parsed = FederationJwks.safeParse(await fetchJson(deps, peer.document.jwks));
    if (!parsed.success) throw new Error(`${domain}: malformed JWKS`);
    const ttl = Math.min(peer.document.ttl, deps.config.federationDiscoveryTtlSeconds);
    cache.set(domain, { jwks: parsed.data, fetchedAt: now, expiresAt: now + ttl * 1000 });
    return parsed.data;
  })();
  cache.set(domain, pending);
  try {
    return await pending;
  } catch (e) {
    cache.delete(domain);
    throw e;
  }
}
