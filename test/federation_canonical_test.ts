import { assert, assertEquals } from "./fixtures/assert.ts";
import { canonicalJson } from "../schemas/canonical_json.ts";

Deno.test("RFC 8785: member order by UTF-16 code units, ECMAScript numbers, minimal escapes", () => {
  // Section 3.2.3's sorting example (keys chosen so UTF-16 order differs from code point order).
  const sorted = {
    "\u20ac": "Euro Sign",
    "\r": "Carriage Return",
    "\ufb33": "Hebrew Letter Dalet With Dagesh",
    "1": "One",
    "\ud83d\ude00": "Emoji: Grinning Face",
    "\u0080": "Control",
    "\u00f6": "Latin Small Letter O With Diaeresis",
  };
  // (JSON.parse would move the integer-like key "1" first, so read the order off the text.)
  const text = canonicalJson(sorted);
  const order = ["\r", "1", "\u0080", "\u00f6", "\u20ac", "\ud83d\ude00", "\ufb33"]
    .map((k) => text.indexOf(JSON.stringify(k) + ":"));
  assertEquals([...order].sort((a, b) => a - b), order);
  assert(order.every((i) => i > 0));
  // Section 3.2.2 example.
  const input = {
    numbers: [333333333.33333329, 1E30, 4.50, 2e-3, 0.000000000000000000000000001],
    string: "\u20ac$\u000F\u000aA'\u0042\u0022\u005c\\\"\/",
    literals: [null, true, false],
  };
  assertEquals(
    canonicalJson(input),
    '{"literals":[null,true,false],"numbers":[333333333.3333333,1e+30,4.5,0.002,1e-27],"string":"€$\\u000f\\nA\'B\\"\\\\\\\\\\"/"}',
  );
  let threw = false;
  try {
    canonicalJson({ n: NaN });
  } catch {
    threw = true;
  }
  assert(threw, "NaN is refused");
});
