/**
 * The address parser (schemas/address.ts): both written forms, case rules, and the RFC 5321
 * section 4.5.3.1 limits counted in UTF-8 octets, not characters (RFC 6531 addresses).
 */
import { normalizeAddress, parseAddress } from "../schemas/address.ts";
import { assert, assertEquals } from "./fixtures/assert.ts";

const error = (input: string) => {
  const r = parseAddress(input);
  return r.ok ? undefined : r.error;
};

Deno.test("addresses: canonical form, SHARP # form, quoted local parts", () => {
  assertEquals(normalizeAddress(" Alice@Example.ORG. "), "Alice@example.org");
  assertEquals(normalizeAddress("bob#example.org"), "bob@example.org");
  assertEquals(normalizeAddress('"a@b c"@example.org'), '"a@b c"@example.org');
  assertEquals(normalizeAddress("użytkownik@bücher.example"), "użytkownik@bücher.example");
  assert(error("no-at-sign")?.includes("local@domain"));
  assert(error("a..b@example.org")?.includes("empty atom"));
  assert(error("a@example")?.includes("two labels"));
  assert(error("a@-bad.example")?.includes("malformed"));
  assert(error("a@[192.0.2.1]")?.includes("literals"));
  assert(error("a\u0000b@example.org")?.includes("control"));
});

Deno.test("addresses: length limits count UTF-8 octets (2-, 3- and 4-byte characters)", () => {
  const at = "@example.org";
  assertEquals(error("a".repeat(64) + at), undefined);
  assert(error("a".repeat(65) + at)?.includes("64 octets"));
  assertEquals(error("é".repeat(32) + at), undefined, "32 × 2 octets");
  assert(error("é".repeat(33) + at)?.includes("64 octets"));
  assertEquals(error("€".repeat(21) + "a" + at), undefined, "21 × 3 + 1 octets");
  assert(error("€".repeat(22) + at)?.includes("64 octets"));
  assertEquals(error("😀".repeat(16) + at), undefined, "16 × 4 octets (surrogate pairs)");
  assert(error("😀".repeat(16) + "a" + at)?.includes("64 octets"));
  // 63-octet labels, 4 of them: 255 octets of domain, which makes the address too long.
  const label = "d".repeat(63);
  assert(error(`a@${label}.${label}.${label}.${label}`)?.includes("254 octets"));
  assert(error(`a@${label}.${label}.${label}.${label}x`)?.includes("255 octets"));
});
