/**
 * THREAD=REFERENCES (RFC 5256 section 4), pure: messages are linked into trees by their
 * Message-ID, References and In-Reply-To fields (steps 1 to 3), dummy containers for messages
 * not at hand are pruned (step 4), the top level is sorted by sent date (step 5), threads whose
 * roots share a base subject are merged (step 6), and every set of siblings is sorted by sent
 * date, ties by sequence number (step 7). The answer is the `thread-list` text of section 5.
 * Only the messages given take part: a SEARCH that left a message out threads without it.
 */
import { subjectOf } from "./sort_keys.ts";

/** What the algorithm reads of a message (from its header fields). */
export interface ThreadMessage {
  seq: number;
  /** The sent date (section 2.2), in ms. */
  date: number;
  subject: string | null;
  /** The Message-ID, `<…>` included, or null when it has none valid. */
  messageId: string | null;
  /** The References ids in order, or In-Reply-To's first id when References has none. */
  references: string[];
}

interface Node<T> {
  msg?: T;
  parent?: Node<T>;
  children: Node<T>[];
}

/** msg-id (RFC 5322 section 3.6.4): `<left@right>`, with no space or angle bracket inside. */
const MSG_ID = /<[^<>\s@]+@[^<>\s]+>/g;

/** Every valid msg-id of a field's value, in order. */
export function messageIds(value: string | null | undefined): string[] {
  return value ? value.match(MSG_ID) ?? [] : [];
}

/**
 * The parent chain of a message (section 4 step 1): the References ids, or when References
 * holds none, the first valid id of In-Reply-To.
 */
export function referencesOf(
  references: string | null | undefined,
  inReplyTo: string | null | undefined,
): string[] {
  const refs = messageIds(references);
  return refs.length > 0 ? refs : messageIds(inReplyTo).slice(0, 1);
}

/** Whether `a` is `b` or one of its ancestors: linking `a` below `b` would make a loop. */
function above<T>(a: Node<T>, b: Node<T>): boolean {
  for (let x: Node<T> | undefined = b; x; x = x.parent) if (x === a) return true;
  return false;
}

function link<T>(parent: Node<T>, child: Node<T>): void {
  child.parent = parent;
  parent.children.push(child);
}

function unlink<T>(child: Node<T>): void {
  const p = child.parent!;
  p.children.splice(p.children.indexOf(child), 1);
  child.parent = undefined;
}

/** The thread-list (section 5) of `messages` (ascending sequence numbers), `id` naming each. */
export function referencesThreads<T extends ThreadMessage>(
  messages: T[],
  id: (m: T) => number,
): string {
  // (1) Link messages and the ids they refer to; a message id is a container.
  const table = new Map<string, Node<T>>();
  const nodes: Node<T>[] = [];
  const container = (msgId: string) => {
    let n = table.get(msgId);
    if (!n) {
      n = { children: [] };
      table.set(msgId, n);
      nodes.push(n);
    }
    return n;
  };
  for (const m of messages) {
    let own: Node<T>;
    const held = m.messageId ? table.get(m.messageId) : undefined;
    if (held && !held.msg) {
      held.msg = m;
      own = held;
    } else {
      // No Message-ID, or a duplicate: a container of its own, never looked up by id.
      own = { msg: m, children: [] };
      nodes.push(own);
      if (m.messageId && !held) table.set(m.messageId, own);
    }
    // (1.A) Each reference is the parent of the next, unless it has a parent already (the
    // field may have been truncated) or the link would make a loop.
    let prev: Node<T> | undefined;
    for (const ref of m.references) {
      const n = container(ref);
      if (prev && !n.parent && !above(n, prev)) link(prev, n);
      prev = n;
    }
    // (1.B) The last reference is the parent: the message knows better than another's field.
    if (own.parent) unlink(own);
    if (prev && !above(own, prev)) link(prev, own);
  }
  // (2), (3) The root set; the id table is no longer needed.
  let roots = prune(nodes.filter((n) => !n.parent), true);
  // (5) The top level by sent date; a dummy sorts by its first child.
  for (const r of roots) if (!r.msg) sortSiblings(r.children);
  sortSiblings(roots);
  roots = mergeBySubject(roots);
  // (7) Every set of siblings by sent date, deepest first.
  const sortAll = (list: Node<T>[]) => {
    for (const n of list) sortAll(n.children);
    sortSiblings(list);
  };
  sortAll(roots);
  return roots.map((r) => `(${render(r, id)})`).join("");
}

/**
 * (4) Dummies without children go; a dummy with children gives way to them, except at the
 * top level where only a lone child is promoted (several stay grouped under the dummy).
 */
function prune<T>(list: Node<T>[], top: boolean): Node<T>[] {
  const out: Node<T>[] = [];
  for (const n of list) {
    n.children = prune(n.children, false);
    if (n.msg || (top && n.children.length > 1)) out.push(n);
    else {
      for (const c of n.children) c.parent = n.parent;
      out.push(...n.children);
    }
  }
  return out;
}

function first<T extends ThreadMessage>(n: Node<T>): T {
  return n.msg ?? first(n.children[0]);
}

function sortSiblings<T extends ThreadMessage>(list: Node<T>[]): void {
  list.sort((a, b) => {
    const x = first(a);
    const y = first(b);
    return x.date - y.date || x.seq - y.seq;
  });
}

/**
 * (6) Threads whose top message (a dummy's first child) has the same base subject are merged:
 * a table keeps one per subject (a dummy over a message, an original over a reply), and each
 * other joins it as section 4 step 6.C says.
 */
function mergeBySubject<T extends ThreadMessage>(roots: Node<T>[]): Node<T>[] {
  const info = new Map(roots.map((r) => [r, subjectOf(first(r).subject)]));
  const table = new Map<string, Node<T>>();
  for (const r of roots) {
    const { base, replyOrForward } = info.get(r)!;
    if (!base) continue;
    const held = table.get(base);
    if (!held || (held.msg && (!r.msg || (info.get(held)!.replyOrForward && !replyOrForward)))) {
      table.set(base, r);
    }
  }
  const gone = new Set<Node<T>>();
  const added: Node<T>[] = [];
  for (const r of roots) {
    const { base, replyOrForward } = info.get(r)!;
    const held = base ? table.get(base) : undefined;
    if (!held || held === r) continue;
    gone.add(r);
    if (!held.msg && !r.msg) {
      for (const c of r.children) link(held, c);
    } else if (!held.msg || (replyOrForward && !info.get(held)!.replyOrForward)) {
      link(held, r);
    } else {
      const dummy: Node<T> = { children: [] };
      link(dummy, held);
      link(dummy, r);
      gone.add(held);
      added.push(dummy);
      table.set(base, dummy);
      // The new dummy stands for both from now on, a reply or not as its first child is.
      info.set(dummy, info.get(held)!);
    }
  }
  return [...roots.filter((r) => !gone.has(r)), ...added.filter((d) => !gone.has(d))];
}

/**
 * A node as section 5's grammar writes it: a message's only child continues its list, several
 * children each stand in parentheses; a dummy is just its children, each in parentheses.
 */
function render<T>(n: Node<T>, id: (m: T) => number): string {
  const kids = n.children;
  const nested = kids.map((c) => `(${render(c, id)})`).join("");
  if (!n.msg) return nested;
  if (kids.length === 0) return String(id(n.msg));
  if (kids.length === 1) return `${id(n.msg)} ${render(kids[0], id)}`;
  return `${id(n.msg)} ${nested}`;
}
