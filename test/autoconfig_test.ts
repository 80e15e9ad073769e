/**
 * Client autoconfiguration over HTTP (issue 19 item 4): Thunderbird's config-v1.1.xml, Outlook's
 * POX autodiscover (with hostile requests) and the Apple .mobileconfig profile, each read back as
 * XML and checked field by field against the configured listener ports.
 */
import { assert, assertEquals } from "./fixtures/assert.ts";
import { ALICE, createTestGateway, DOMAIN, expectProblem } from "./fixtures/app.ts";
import { all, parseXml, plistValue, textOf, type XmlNode } from "./fixtures/xml_tree.ts";

const PORTS = {
  hostname: "mail.postern.test",
  imapsPort: 993,
  imapPort: 143,
  pop3sPort: 995,
  pop3Port: 0,
  submissionsPort: 465,
  submissionPort: 587,
};

const servers = (provider: XmlNode, tag: string) =>
  all(provider, tag).map((s) => ({
    type: s.attrs.type,
    hostname: textOf(s, "hostname"),
    port: Number(textOf(s, "port")),
    socketType: textOf(s, "socketType"),
    authentication: textOf(s, "authentication"),
    username: textOf(s, "username"),
  }));

const server = (type: string, port: number, socketType: string) => ({
  type,
  hostname: "mail.postern.test",
  port,
  socketType,
  authentication: "password-cleartext",
  username: "%EMAILADDRESS%",
});

Deno.test("issue19#4: Thunderbird autoconfig answers for a local domain with the configured ports", async () => {
  const gw = await createTestGateway(PORTS);
  try {
    const urls: [string, Record<string, string>][] = [
      [`/.well-known/autoconfig/mail/config-v1.1.xml?emailaddress=${ALICE.address}`, {}],
      ["/mail/config-v1.1.xml", { host: `autoconfig.${DOMAIN}` }],
      [`/mail/config-v1.1.xml?emailaddress=alice%40${DOMAIN}`, { host: `autoconfig.${DOMAIN}` }],
    ];
    for (const [url, headers] of urls) {
      const res = await gw.call("GET", url, { headers });
      assertEquals(res.status, 200, url);
      assert(res.headers.get("content-type")!.startsWith("application/xml"));
      const doc = parseXml(await res.text());
      assertEquals(doc.name, "clientConfig");
      assertEquals(doc.attrs.version, "1.1");
      const [provider] = all(doc, "emailProvider");
      assertEquals(provider.attrs.id, DOMAIN);
      assertEquals(textOf(provider, "domain"), DOMAIN);
      assertEquals(servers(provider, "incomingServer"), [
        server("imap", 993, "SSL"),
        server("imap", 143, "STARTTLS"),
        server("pop3", 995, "SSL"),
      ]);
      assertEquals(servers(provider, "outgoingServer"), [
        server("smtp", 465, "SSL"),
        server("smtp", 587, "STARTTLS"),
      ]);
    }
    for (
      const [url, headers] of [
        ["/.well-known/autoconfig/mail/config-v1.1.xml?emailaddress=a@elsewhere.example", {}],
        ["/mail/config-v1.1.xml", { host: "autoconfig.elsewhere.example" }],
      ] as const
    ) {
      await expectProblem(await gw.call("GET", url, { headers }), 404, "not_found");
    }
  } finally {
    gw.close();
  }
});

const request = (address: string) =>
  `<?xml version="1.0" encoding="utf-8"?>
<Autodiscover xmlns="http://schemas.microsoft.com/exchange/autodiscover/outlook/requestschema/2006">
  <Request>
    <EMailAddress>${address}</EMailAddress>
    <AcceptableResponseSchema>http://schemas.microsoft.com/exchange/autodiscover/outlook/responseschema/2006a</AcceptableResponseSchema>
  </Request>
</Autodiscover>`;

const XML = { "content-type": "text/xml; charset=utf-8" };

Deno.test("issue19#4: Outlook autodiscover answers the POX request with IMAP, POP3 and SMTP", async () => {
  const gw = await createTestGateway(PORTS);
  try {
    for (const path of ["/autodiscover/autodiscover.xml", "/Autodiscover/Autodiscover.xml"]) {
      const res = await gw.call("POST", path, { body: request(ALICE.address), headers: XML });
      assertEquals(res.status, 200, path);
      const doc = parseXml(await res.text());
      assertEquals(doc.name, "Autodiscover");
      assertEquals(
        doc.attrs.xmlns,
        "http://schemas.microsoft.com/exchange/autodiscover/responseschema/2006",
      );
      const [response] = all(doc, "Response");
      assertEquals(
        response.attrs.xmlns,
        "http://schemas.microsoft.com/exchange/autodiscover/outlook/responseschema/2006a",
      );
      const [account] = all(response, "Account");
      assertEquals(textOf(account, "AccountType"), "email");
      assertEquals(textOf(account, "Action"), "settings");
      const protocols = all(account, "Protocol").map((p) => ({
        type: textOf(p, "Type"),
        server: textOf(p, "Server"),
        port: Number(textOf(p, "Port")),
        login: textOf(p, "LoginName"),
        ssl: textOf(p, "SSL"),
        encryption: textOf(p, "Encryption"),
      }));
      const p = (type: string, port: number) => ({
        type,
        server: "mail.postern.test",
        port,
        login: ALICE.address,
        ssl: "on",
        encryption: "SSL",
      });
      assertEquals(protocols, [p("IMAP", 993), p("POP3", 995), p("SMTP", 465)]);
    }
    const other = await gw.call("POST", "/autodiscover/autodiscover.xml", {
      body: request("someone@elsewhere.example"),
      headers: XML,
    });
    assertEquals(other.status, 404);
    assertEquals(
      textOf(all(all(parseXml(await other.text()), "Response")[0], "Error")[0], "ErrorCode"),
      "603",
    );
  } finally {
    gw.close();
  }
});

Deno.test("issue19#4: autodiscover refuses entities, huge bodies and other media types", async () => {
  const gw = await createTestGateway(PORTS);
  const post = (body: string, headers: Record<string, string> = XML) =>
    gw.call("POST", "/autodiscover/autodiscover.xml", { body, headers });
  try {
    const xxe = `<?xml version="1.0"?>
<!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]>
<Autodiscover><Request><EMailAddress>&x;</EMailAddress></Request></Autodiscover>`;
    const laughs = `<?xml version="1.0"?>
<!DOCTYPE r [<!ENTITY a "alice"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">]>
<Autodiscover><Request><EMailAddress>&b;@${DOMAIN}</EMailAddress></Request></Autodiscover>`;
    for (const body of [xxe, laughs, "<Autodiscover><Request/></Autodiscover>", "not xml"]) {
      const res = await post(body);
      assertEquals(res.status, 400, body);
      const text = await res.text();
      assert(!text.includes("root:"), "no file content leaks");
      const error = all(all(parseXml(text), "Response")[0], "Error")[0];
      assertEquals(textOf(error, "ErrorCode"), "600");
    }
    // A character reference in the address is refused rather than decoded.
    const ref = await post(request(`alice&#64;${DOMAIN}`));
    assertEquals(ref.status, 400);
    await ref.body?.cancel();

    const huge = request(ALICE.address) + `<!--${"x".repeat(100_000)}-->`;
    await expectProblem(await post(huge), 413, "payload_too_large");
    await expectProblem(
      await post(request(ALICE.address), { "content-type": "application/json" }),
      415,
      "unsupported_media_type",
    );
    await expectProblem(await post(request(ALICE.address), {}), 415, "unsupported_media_type");
  } finally {
    gw.close();
  }
});

Deno.test("issue19#4: a signed-in user downloads an Apple .mobileconfig profile", async () => {
  const gw = await createTestGateway(PORTS);
  try {
    await expectProblem(
      await gw.call("GET", "/v1/autoconfig/apple.mobileconfig"),
      401,
      "unauthorized",
    );
    const token = await gw.login(ALICE);
    const res = await gw.call("GET", "/v1/autoconfig/apple.mobileconfig", { token });
    assertEquals(res.status, 200);
    assertEquals(res.headers.get("content-type"), "application/x-apple-aspen-config");
    const text = await res.text();
    const doc = parseXml(text);
    assertEquals(doc.name, "plist");
    const profile = plistValue(doc.children[0]) as Record<string, unknown>;
    assertEquals(profile.PayloadType, "Configuration");
    assertEquals(profile.PayloadVersion, 1);
    const [mail] = profile.PayloadContent as Record<string, unknown>[];
    assertEquals(mail.PayloadType, "com.apple.mail.managed");
    assertEquals(mail.EmailAddress, ALICE.address);
    assertEquals(mail.EmailAccountType, "EmailTypeIMAP");
    assertEquals(mail.IncomingMailServerHostName, "mail.postern.test");
    assertEquals(mail.IncomingMailServerPortNumber, 993);
    assertEquals(mail.IncomingMailServerUsername, ALICE.address);
    assertEquals(mail.IncomingMailServerUseSSL, true);
    assertEquals(mail.OutgoingMailServerHostName, "mail.postern.test");
    assertEquals(mail.OutgoingMailServerPortNumber, 465);
    assertEquals(mail.OutgoingMailServerUsername, ALICE.address);
    assert(!("IncomingPassword" in mail) && !text.includes(ALICE.password), "no password");
    assert(/^[0-9A-F-]{36}$/.test(mail.PayloadUUID as string));
    assert(mail.PayloadUUID !== profile.PayloadUUID);

    // With only the STARTTLS listeners on, the profile names those ports.
    const plain = await createTestGateway({ ...PORTS, imapsPort: 0, submissionsPort: 0 });
    try {
      const res2 = await plain.call("GET", "/v1/autoconfig/apple.mobileconfig", {
        token: await plain.login(ALICE),
      });
      const p2 = plistValue(parseXml(await res2.text()).children[0]) as {
        PayloadContent: Record<string, unknown>[];
      };
      assertEquals(p2.PayloadContent[0].IncomingMailServerPortNumber, 143);
      assertEquals(p2.PayloadContent[0].OutgoingMailServerPortNumber, 587);
    } finally {
      plain.close();
    }
  } finally {
    gw.close();
  }
});
