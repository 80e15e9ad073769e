import { assertEquals } from "../../test/fixtures/assert.ts";
import { baseSubject, decodeWords } from "./sort_keys.ts";

Deno.test("issue19#3: base subject (RFC 5256 section 2.1)", () => {
  const cases: [string | null, string][] = [
    [null, ""],
    ["Hello", "HELLO"],
    ["Re: Hello", "HELLO"],
    ["RE: re:  Hello", "HELLO"],
    ["Fwd: Re: Hello (fwd)", "HELLO"],
    ["Re[2]: Hello", "HELLO"],
    ["Re [2]: Hello", "HELLO"],
    ["[list] Re: Hello", "HELLO"],
    ["Re: [list] Hello", "HELLO"],
    ["[list]", "[LIST]"],
    ["[Fwd: Re: Hello]", "HELLO"],
    ["Hello\r\n   world  (fwd) (FWD)", "HELLO WORLD"],
    ["=?utf-8?b?UmU6IEvDpHNl?=", "KäSE"],
    ["Re: Réunion", "RéUNION"],
  ];
  for (const [input, want] of cases) assertEquals(baseSubject(input), want, String(input));
});

Deno.test("issue19#3: RFC 2047 words for SORT keys", () => {
  assertEquals(decodeWords("=?ISO-8859-1?Q?Caf=E9_au_lait?="), "Café au lait");
  assertEquals(decodeWords("=?utf-8?q?a?= =?utf-8?q?b?= c"), "ab c");
  assertEquals(decodeWords("=?x-unknown?q?a?="), "=?x-unknown?q?a?=");
});
