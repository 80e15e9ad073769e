import { assertEquals } from "../../test/fixtures/assert.ts";
import {
  asDate,
  asGroupedAddresses,
  asMessageIds,
  asText,
  asURLs,
  decodeWords,
  headerProperty,
  parseHeaderProperty,
  rawFields,
} from "./headers.ts";

Deno.test("issue19#2: header forms of RFC 8621 section 4.1.2", () => {
  assertEquals(decodeWords("=?UTF-8?Q?Gr=C3=BC=C3=9Fe?= =?UTF-8?B?IQ==?="), "Grüße!");
  assertEquals(asText(" Hello\r\n  =?ISO-8859-1?Q?W=F6rld?="), "Hello  Wörld");
  assertEquals(asGroupedAddresses(' "A B" <a@x.org>, Team: c@x.org, d@x.org;, e@x.org'), [
    {
      name: null,
      addresses: [{ name: "A B", email: "a@x.org" }, { name: null, email: "e@x.org" }],
    },
    {
      name: "Team",
      addresses: [{ name: null, email: "c@x.org" }, { name: null, email: "d@x.org" }],
    },
  ]);
  assertEquals(asMessageIds(" <a@x> (comment) <b@y>"), ["a@x", "b@y"]);
  assertEquals(asMessageIds(" not-an-id"), null);
  assertEquals(asDate(" Tue, 12 Feb 2019 13:35:51 +0100 (CET)"), "2019-02-12T12:35:51Z");
  assertEquals(asURLs(" <mailto:l@x.org>, <https://x.org/u>"), [
    "mailto:l@x.org",
    "https://x.org/u",
  ]);
  const fields = rawFields(
    new TextEncoder().encode("X-A: 1\r\nX-a: two\r\n words\r\nSubject: s\r\n"),
    0,
    40,
  );
  assertEquals(headerProperty(fields, parseHeaderProperty("header:x-a")), " two\r\n words");
  assertEquals(headerProperty(fields, parseHeaderProperty("header:X-A:asText:all")), [
    "1",
    "two words",
  ]);
  assertEquals(parseHeaderProperty("header:X:asNothing"), undefined);
});
