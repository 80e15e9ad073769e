/**
 * How a claim's destination groups are spread over the worker's connections. A claim that is
 * mostly one busy domain (an application's receipts to one mailbox provider) would otherwise go
 * out over one connection, one message at a time, while the other lanes sit idle; like Postfix's
 * destination concurrency, such a domain gets several connections. Recipients of the same
 * message and sender stay in one part, so each message still goes out in one transaction.
 * Pure: no I/O.
 */
import type { OutboxGroup, OutboxItem } from "../../schemas/bridge_outbox.ts";

/** A domain's items are split only into parts of at least this many (a connection's worth). */
export const MIN_ITEMS_PER_CONNECTION = 5;

/** The groups, with large ones split so that there are up to `lanes` parts to deliver. */
export function spreadOverLanes(
  groups: OutboxGroup[],
  lanes: number,
  minItems = MIN_ITEMS_PER_CONNECTION,
): OutboxGroup[] {
  if (groups.length >= lanes) return groups;
  const share = Math.ceil(lanes / groups.length);
  return groups.flatMap((group) => {
    const parts = Math.max(1, Math.min(share, Math.floor(group.items.length / minItems)));
    if (parts === 1) return [group];
    // Whole messages (same bytes and sender) go round-robin into the parts.
    const byMessage = new Map<string, OutboxItem[]>();
    for (const item of group.items) {
      const key = `${item.blobSha256}\u0000${item.mailFrom}`;
      const list = byMessage.get(key);
      if (list) list.push(item);
      else byMessage.set(key, [item]);
    }
    const out: OutboxItem[][] = Array.from({ length: parts }, () => []);
    let next = 0;
    for (const list of byMessage.values()) {
      out[next].push(...list);
      next = (next + 1) % parts;
    }
    return out.filter((items) => items.length > 0).map((items) => ({
      domain: group.domain,
      items,
    }));
  });
}
