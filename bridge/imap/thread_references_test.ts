import { assertEquals } from "../../test/fixtures/assert.ts";
import { referencesOf, referencesThreads, type ThreadMessage } from "./thread_references.ts";

/** Messages in sequence order: [subject, message id, references, day of the month]. */
function thread(list: [string, string | null, string[], number][]): string {
  const msgs: ThreadMessage[] = list.map(([subject, id, refs, day], i) => ({
    seq: i + 1,
    date: Date.UTC(2024, 5, day),
    subject,
    messageId: id && `<${id}@x>`,
    references: refs.map((r) => `<${r}@x>`),
  }));
  return referencesThreads(msgs, (m) => m.seq);
}

Deno.test("issue19#3: REFERENCES chains, branches and orders siblings by sent date", () => {
  // A chain: each reply's References names its parent.
  assertEquals(
    thread([["a", "a", [], 1], ["Re: a", "b", ["a"], 2], ["Re: a", "c", ["a", "b"], 3]]),
    "(1 2 3)",
  );
  // Two replies to one message are siblings; the later-sent one sorts last though seen first.
  assertEquals(
    thread([["a", "a", [], 1], ["Re: a", "c", ["a"], 5], ["Re: a", "b", ["a"], 2]]),
    "(1 (3)(2))",
  );
  // Threads sort by the sent date of their first message, not by sequence number.
  assertEquals(thread([["late", "l", [], 9], ["early", "e", [], 1]]), "(2)(1)");
  // The RFC's shape `(3 6 (4 23)(44 7 96))`: a child continues the list, branches nest.
  assertEquals(
    thread([
      ["t", "m3", [], 1],
      ["t", "m6", ["m3"], 2],
      ["t", "m4", ["m3", "m6"], 3],
      ["t", "m23", ["m3", "m6", "m4"], 4],
      ["t", "m44", ["m3", "m6"], 5],
      ["t", "m7", ["m3", "m6", "m44"], 6],
      ["t", "m96", ["m3", "m6", "m44", "m7"], 7],
    ]),
    "(1 2 (3 4)(5 6 7))",
  );
});

Deno.test("issue19#3: REFERENCES dummies: missing parents group their children, lone ones are promoted", () => {
  // Two replies to a message not at hand stay together under a dummy at the top level.
  assertEquals(thread([["x", "b", ["gone"], 1], ["y", "c", ["gone"], 2]]), "((1)(2))");
  // A lone reply to a missing message is promoted to the top.
  assertEquals(thread([["Re: z", "b", ["gone"], 1], ["w", "w", [], 2]]), "(1)(2)");
  // Below the top a dummy gives way to its children: a -> (missing) -> b, c.
  assertEquals(
    thread([["a", "a", [], 1], ["b", "b", ["a", "mid"], 2], ["c", "c", ["a", "mid"], 3]]),
    "(1 (2)(3))",
  );
});

Deno.test("issue19#3: REFERENCES merges threads by base subject (step 6)", () => {
  // A reply without References joins its original as a child.
  assertEquals(thread([["Hello", "h", [], 1], ["Re: Hello", "r", [], 2]]), "(1 2)");
  // Two originals with one subject are siblings under a dummy.
  assertEquals(thread([["Hello", "h", [], 1], ["hello", "g", [], 2]]), "((1)(2))");
  // A reply seen before its original still goes below it.
  assertEquals(thread([["Fwd: Plan", "r", [], 2], ["Plan", "p", [], 1]]), "(2 1)");
  // An empty subject merges nothing.
  assertEquals(thread([["", "a", [], 1], ["", "b", [], 2]]), "(1)(2)");
});

Deno.test("issue19#3: REFERENCES survives loops, duplicates, truncation and missing ids", () => {
  // A and B name each other: no loop is made, and the answer is finite.
  assertEquals(thread([["p", "a", ["b"], 1], ["q", "b", ["a"], 2]]), "(2 1)");
  // A message naming itself is not its own parent.
  assertEquals(thread([["s", "s", ["s"], 1]]), "(1)");
  // Duplicate Message-IDs: the second is a message of its own, not the first's replacement.
  assertEquals(
    thread([["d", "d", [], 1], ["e", "d", [], 2], ["Re: d", "r", ["d"], 3]]),
    "(1 3)(2)",
  );
  // No Message-ID at all.
  assertEquals(thread([["n", null, [], 1], ["m", null, [], 2]]), "(1)(2)");
  // A truncated References (only "c") first made b a child of a; c's own field corrects it.
  assertEquals(
    thread([
      ["t", "a", [], 1],
      ["Re: t", "d", ["a", "c"], 4],
      ["Re: t", "c", ["b"], 3],
      ["Re: t", "b", ["a"], 2],
    ]),
    "(1 4 3 2)",
  );
});

Deno.test("issue19#3: REFERENCES reads References, else In-Reply-To's first id", () => {
  assertEquals(referencesOf("<a@x> junk <b@x>", "<c@x>"), ["<a@x>", "<b@x>"]);
  assertEquals(referencesOf(null, "<c@x> <d@x>"), ["<c@x>"]);
  assertEquals(referencesOf("not an id", "Your message <c@x> of Monday"), ["<c@x>"]);
  assertEquals(referencesOf(undefined, undefined), []);
});
