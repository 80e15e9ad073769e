import { assertEquals } from "../../test/fixtures/assert.ts";
import { parseMimeStructure } from "../../schemas/mime_structure.ts";
import {
  bodyLists,
  type BodyPart,
  bodyStructure,
  bodyValue,
  decodeQuotedPrintable,
} from "./email_body.ts";

/** A leaf whose body is its letter, so a list of parts reads as a word. */
const leaf = (type: string, letter: string, disposition?: string) =>
  [
    `Content-Type: ${type}`,
    ...(disposition ? [`Content-Disposition: ${disposition}`] : []),
    "",
    letter,
  ]
    .join("\r\n");
const multi = (subtype: string, ...parts: string[]) => {
  const b = `b${Math.random().toString(36).slice(2)}`;
  return [
    `Content-Type: multipart/${subtype}; boundary="${b}"`,
    "",
    ...parts.map((p) => `--${b}\r\n${p}`),
    `--${b}--`,
    "",
  ].join("\r\n");
};

Deno.test("issue19#2: textBody/htmlBody/attachments follow RFC 8621 section 4.1.4's example", () => {
  // The section's own tree: A…K as it names them.
  const raw = new TextEncoder().encode(
    "From: a@example.org\r\nSubject: x\r\nMIME-Version: 1.0\r\n" + multi(
      "mixed",
      leaf("text/plain", "A", "inline"),
      multi(
        "mixed",
        multi(
          "alternative",
          multi(
            "mixed",
            leaf("text/plain", "B", "inline"),
            leaf("image/jpeg", "C", "inline"),
            leaf("text/plain", "D", "inline"),
          ),
          multi("related", leaf("text/html", "E"), leaf("image/jpeg", "F")),
        ),
        leaf("image/jpeg", "G", "attachment"),
        leaf("application/x-excel", "H"),
        leaf("message/rfc822", "J"),
      ),
      leaf("text/plain", "K", "inline"),
    ),
  );
  const root = bodyStructure(raw, parseMimeStructure(raw), (p) => `b-${p}`);
  const lists = bodyLists(root);
  const word = (parts: BodyPart[]) => parts.map((p) => bodyValue(raw, p, 0).value.trim()).join("");
  assertEquals(word(lists.textBody), "ABCDK");
  assertEquals(word(lists.htmlBody), "AEK");
  assertEquals(word(lists.attachments), "CFGHJ");
  // partIds are IMAP section numbers; multiparts have none (section 4.1.4).
  assertEquals(root.partId, null);
  assertEquals(lists.textBody.map((p) => p.partId), ["1", "2.1.1.1", "2.1.1.2", "2.1.1.3", "3"]);
  assertEquals(lists.attachments.map((p) => p.blobId), [
    "b-2.1.1.2",
    "b-2.1.2.2",
    "b-2.2",
    "b-2.3",
    "b-2.4",
  ]);
});

Deno.test("issue19#2: body values decode transfer encodings and charsets, and truncate on a character", () => {
  assertEquals(
    new TextDecoder().decode(
      decodeQuotedPrintable(new TextEncoder().encode("caf=C3=A9 =\r\nau lait")),
    ),
    "café au lait",
  );
  const raw = new TextEncoder().encode(
    "Content-Type: text/plain; charset=iso-8859-1\r\nContent-Transfer-Encoding: base64\r\n\r\n" +
      btoa(String.fromCharCode(0x47, 0x72, 0xfc, 0xdf, 0x65)) + "\r\n",
  );
  const root = bodyStructure(raw, parseMimeStructure(raw), (p) => p);
  assertEquals(root.partId, "1");
  assertEquals(root.size, 5);
  assertEquals(bodyValue(raw, root, 0), {
    value: "Grüße",
    isEncodingProblem: false,
    isTruncated: false,
  });
  // "ü" is two octets in UTF-8: a 3-octet limit keeps "Gr" rather than half a character.
  assertEquals(bodyValue(raw, root, 3), {
    value: "Gr",
    isEncodingProblem: false,
    isTruncated: true,
  });
});
