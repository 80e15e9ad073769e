/**
 * DNS for a worker thread, answered by the main thread's resolver (hosts/process/mailauth_worker.ts).
 * The main side answers each question with how long its cache keeps that answer; the worker
 * side reuses the answer for exactly that long. Every MX message asks the same SPF and DMARC
 * names, and a round trip through a busy main thread took several milliseconds per question,
 * which at full MX load was most of a message's authentication time. No answer lives longer in
 * the worker than in the main thread's cache, so POSTERN_DNS_CACHE_SECONDS still bounds it.
 */
import { type Resolver, resolverOver, sharedLookups } from "../../bridge/dns/resolver.ts";

export interface DnsQuestion {
  method: keyof Resolver;
  args: [string];
}

/** A resolver's answer, or its error with the DNS code mailauth reads (ENOTFOUND, ENODATA…). */
export type DnsAnswer =
  & { cacheMs: number }
  & ({ ok: true; value: unknown } | { ok: false; error: { message: string; code?: string } });

const METHODS = new Set<string>(["mx", "a", "aaaa", "txt", "srv", "ptr"]);

/** Main thread: answers one question; never rejects (a failure is an answer too). */
export async function answerDnsQuestion(
  resolver: Resolver & { cachedFor?(type: keyof Resolver, name: string): number },
  question: DnsQuestion,
): Promise<DnsAnswer> {
  const { method, args } = question;
  const name = String(args?.[0] ?? "");
  const cacheMs = () => resolver.cachedFor?.(method, name) ?? 0;
  if (!METHODS.has(method)) {
    return { ok: false, error: { message: `no DNS method ${method}` }, cacheMs: 0 };
  }
  try {
    const value = await resolver[method](name);
    return { ok: true, value, cacheMs: cacheMs() };
  } catch (e) {
    const error = e as { message?: string; code?: string };
    return {
      ok: false,
      error: { message: String(error?.message ?? e), code: error?.code },
      cacheMs: cacheMs(),
    };
  }
}

export interface RelayOptions {
  maxEntries?: number;
  now?: () => number;
}

/**
 * Worker thread: a Resolver that asks `ask` (the main thread) and keeps each answer for the
 * `cacheMs` it came with. Concurrent identical questions share one trip.
 */
export function relayedResolver(
  ask: (question: DnsQuestion) => Promise<DnsAnswer>,
  options: RelayOptions = {},
): Resolver {
  const memory = sharedLookups(
    (method, name) => ask({ method, args: [name] }),
    // ask() resolves with failures too: each answer says how long it may be kept.
    (outcome) => outcome.ok ? (outcome.value as DnsAnswer).cacheMs : 0,
    { maxEntries: options.maxEntries ?? 5_000, now: options.now ?? (() => performance.now()) },
  );
  const settle = (answer: DnsAnswer) => {
    if (answer.ok) return answer.value;
    // A new Error each time: callers may annotate what they catch.
    throw Object.assign(new Error(answer.error.message), { code: answer.error.code });
  };
  return resolverOver(<T>(method: keyof Resolver, name: string) =>
    memory.lookup(method, name).then((answer) => settle(answer as DnsAnswer)) as Promise<T>
  );
}
