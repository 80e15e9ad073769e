import { assertEquals } from "./fixtures/assert.ts";
import { nonPublicRange, refuseAddresses, refuseUrl } from "../schemas/public_address.ts";

Deno.test("issue15#3: only global unicast addresses are public, in every spelling", () => {
  const cases: [string, string | undefined][] = [
    ["8.8.8.8", undefined],
    ["93.184.216.34", undefined],
    ["2606:4700::1111", undefined],
    ["[2a00:1450:4001::200e]", undefined],
    ["127.0.0.1", "loopback"],
    ["2130706433", "loopback"],
    ["0177.0.0.1", "loopback"],
    ["0x7f.1", "loopback"],
    ["10.20.30.40", "private"],
    ["172.16.0.1", "private"],
    ["172.32.0.1", undefined],
    ["192.168.1.1", "private"],
    ["169.254.169.254", "linkLocal"],
    ["100.64.0.1", "carrierGradeNat"],
    ["0.0.0.0", "unspecified"],
    ["224.0.0.1", "multicast"],
    ["255.255.255.255", "broadcast"],
    ["240.0.0.1", "reserved"],
    ["198.18.0.1", "reserved"],
    ["::1", "loopback"],
    ["::", "unspecified"],
    ["::ffff:7f00:1", "ipv4Mapped"],
    ["::ffff:127.0.0.1", "ipv4Mapped"],
    ["::ffff:a9fe:a9fe", "ipv4Mapped"],
    ["[::ffff:8.8.8.8]", "ipv4Mapped"],
    ["::7f00:1", "not global unicast"],
    ["64:ff9b::7f00:1", "rfc6052"],
    ["2002:7f00:1::1", "6to4"],
    ["2001:0:4136:e378:8000:63bf:3fff:fdd2", "teredo"],
    ["2001:db8::1", "reserved"],
    ["fd00::1", "uniqueLocal"],
    ["fe80::1", "linkLocal"],
    ["fec0::1", "deprecatedSiteLocal"],
    ["ff02::1", "multicast"],
    ["hooks.example.com", "not an address"],
  ];
  for (const [ip, expected] of cases) assertEquals(nonPublicRange(ip), expected, ip);
});

Deno.test("issue15#3: one non-public answer refuses the name", () => {
  assertEquals(refuseAddresses("a.example", ["8.8.8.8", "2606:4700::1111"]), undefined);
  assertEquals(
    refuseAddresses("a.example", ["8.8.8.8", "::ffff:7f00:1"]),
    "a.example resolves to a non-public address (::ffff:7f00:1, ipv4Mapped)",
  );
});

Deno.test("issue15#3: URL text: scheme, credentials, internal names and literals", () => {
  const open = { allowPrivate: false };
  assertEquals(refuseUrl("https://hooks.example.com/x", open), undefined);
  assertEquals(refuseUrl("http://[2606:4700::1111]/", open), undefined);
  assertEquals(refuseUrl("http://127.0.0.1:8080/x", { allowPrivate: true }), undefined);
  assertEquals(
    refuseUrl("http://hooks.example.com/", { ...open, httpsOnly: true }),
    "the URL must be https",
  );
  for (
    const url of [
      "http://[::ffff:127.0.0.1]/",
      "http://2130706433/",
      "http://localhost./",
      "http://api.localhost/",
      "https://user:pw@hooks.example.com/",
      "file:///etc/passwd",
      "not a url",
    ]
  ) {
    assertEquals(typeof refuseUrl(url, open), "string", url);
  }
});
