import { assertEquals } from "../../test/fixtures/assert.ts";
import { checkWebhookUrl, isPrivateAddress } from "./ssrf.ts";

Deno.test("ssrf: private, loopback, link-local, CGNAT and multicast addresses are private", () => {
  const cases: [string, boolean][] = [
    ["127.0.0.1", true],
    ["10.20.30.40", true],
    ["172.16.0.1", true],
    ["172.32.0.1", false],
    ["192.168.1.1", true],
    ["169.254.169.254", true],
    ["100.64.0.1", true],
    ["0.0.0.0", true],
    ["224.0.0.1", true],
    ["8.8.8.8", false],
    ["93.184.216.34", false],
    ["::1", true],
    ["::", true],
    ["fd00::1", true],
    ["fe80::1", true],
    ["::ffff:127.0.0.1", true],
    ["2606:4700::1111", false],
  ];
  for (const [ip, expected] of cases) assertEquals(isPrivateAddress(ip), expected, ip);
});

Deno.test("ssrf: webhook URLs", () => {
  assertEquals(checkWebhookUrl("https://hooks.example.com/x", false), undefined);
  assertEquals(checkWebhookUrl("http://127.0.0.1:8080/x", true), undefined, "allowed in tests");
  for (
    const url of [
      "http://127.0.0.1/",
      "http://localhost:80/",
      "http://api.localhost/",
      "http://[::1]:9000/",
      "http://10.0.0.1/",
      "https://user:pw@hooks.example.com/",
      "file:///etc/passwd",
      "not a url",
    ]
  ) {
    assertEquals(typeof checkWebhookUrl(url, false), "string", url);
  }
});
