/**
 * Issue 17 item 2 in the real runtime: the edge MIME port composes a message with attachments
 * and parses it back inside workerd (through miniflare, offline, no nodejs_compat), and reads the
 * hand-written MIME corpus (nested parts, forwarded messages, a dozen charsets through workerd's
 * own TextDecoder, RFC 2231 names, damaged encodings) exactly as it does on Deno — and as the
 * process host's mailparser does, which test/mime_edge_port_test.ts holds it to.
 */
import { assert, assertEquals } from "./fixtures/assert.ts";
import { bundleWorker, Miniflare, workerdCpuMs } from "./fixtures/workerd.ts";
import { HAND_WRITTEN, random, randomMime } from "./fixtures/mime_corpus.ts";
import { createNodeMime } from "../hosts/process/mime_node.ts";
import { edgeMimePort } from "../src/mime/edge_port.ts";
import { fromBase64, toBase64 } from "../src/crypto.ts";

const enc = new TextEncoder();

// deno-lint-ignore no-explicit-any
type Json = any;

Deno.test({
  name:
    "issue17#2: in workerd (no nodejs_compat) the edge MIME port composes attachments and parses mail",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    const script = await bundleWorker("test/fixtures/edge_mime_worker.ts");
    // The bundle carries no MIME library and nothing from Node.
    assert(!/mailparser|nodemailer|node:buffer|require\("buffer"\)/.test(script));
    const mf = new Miniflare({
      modules: true,
      script,
      compatibilityDate: "2025-09-01",
      compatibilityFlags: [],
    });
    try {
      const call = async (path: string, body: BodyInit, type: string): Promise<Json> => {
        const response = await mf.dispatchFetch(`http://worker${path}`, {
          method: "POST",
          headers: { "content-type": type },
          body,
        });
        const json = await response.json() as Json;
        assertEquals(response.status, 200, JSON.stringify(json));
        assertEquals(json.nodeGlobals, []);
        return json;
      };

      // Compose with an attachment and an inline image, parse back, all inside workerd.
      const pdf = Uint8Array.from({ length: 70_000 }, (_, i) => (i * 7919) & 0xff);
      const png = Uint8Array.from({ length: 300 }, (_, i) => i & 0xff);
      const input = {
        from: { name: "Ålice", address: "alice@postern.test" },
        to: [{ name: "Bob, Jr", address: "bob@remote.example" }],
        cc: [],
        bcc: [],
        replyTo: [],
        subject: "Rapport trimestriel — Grüße",
        text: "The report is attached.\n",
        html: '<p>The report <img src="cid:logo@postern.test"></p>',
        messageId: "<workerd-1@postern.test>",
        date: "2026-12-07T08:00:00.000Z",
        headers: [{ name: "X-Campaign", value: "q4" }],
        attachments: [
          { filename: "résumé 2026.pdf", contentType: "application/pdf", content: toBase64(pdf) },
          {
            filename: "logo.png",
            contentType: "image/png",
            content: toBase64(png),
            contentId: "logo@postern.test",
          },
        ],
      };
      const composed = await call("/compose", JSON.stringify({ input }), "application/json");
      assertEquals(composed.parsed.subject, input.subject);
      assertEquals(composed.parsed.from, input.from);
      assertEquals(composed.parsed.to, input.to);
      assertEquals(composed.parsed.text, input.text);
      assertEquals(composed.parsed.html, input.html);
      assertEquals(
        composed.parsed.attachments.map((
          a: Json,
        ) => [a.filename, a.contentType, a.size, a.contentId]),
        // Document order: the inline image sits beside the HTML, before the attachment.
        [
          ["logo.png", "image/png", png.byteLength, "<logo@postern.test>"],
          ["résumé 2026.pdf", "application/pdf", pdf.byteLength, undefined],
        ],
      );
      assertEquals(composed.attachments.map((a: Json) => a.content), [
        toBase64(png),
        toBase64(pdf),
      ]);
      // What workerd composed, mailparser reads as the same message.
      const raw = fromBase64(composed.raw);
      const byMailparser = await createNodeMime({ simpleFirst: false }).parse(raw);
      assertEquals(JSON.parse(JSON.stringify(byMailparser)), composed.parsed);

      // The hand-written corpus reads the same in workerd as on Deno (charsets included).
      const deno = edgeMimePort({ simpleFirst: false });
      for (const [label, message] of HAND_WRITTEN) {
        const bytes: Uint8Array<ArrayBuffer> = typeof message === "string"
          ? enc.encode(message)
          : message.slice();
        const got = await call("/parse", bytes.slice(), "message/rfc822");
        const want = await deno.parse(bytes);
        assertEquals(got.parsed, JSON.parse(JSON.stringify(want)), label);
      }
      const r = random(17);
      for (let i = 0; i < 30; i++) {
        const tree = randomMime(r);
        const got = await call("/parse", tree.slice(), "message/rfc822");
        assertEquals(got.parsed, JSON.parse(JSON.stringify(await deno.parse(tree))), `tree ${i}`);
      }

      // Figures, not assertions: workerd's CPU for 20 compose-and-parse round trips of the
      // message above, and for parsing a 1.2 MB message with an attachment 5 times.
      const cpu = async (n: number, run: () => Promise<unknown>) => {
        const before = workerdCpuMs();
        for (let i = 0; i < n; i++) await run();
        const after = workerdCpuMs();
        return before === undefined || after === undefined ? "n/a" : `${(after - before) / n} ms`;
      };
      const body = JSON.stringify({ input });
      const large = HAND_WRITTEN.find(([label]) => label.startsWith("large"))![1] as Uint8Array;
      console.log(
        `workerd CPU per compose+parse (70 KB, 2 attachments): ${await cpu(
          20,
          () => call("/compose", body, "application/json"),
        )}; per parse of a 1.2 MB message: ${await cpu(
          5,
          () => call("/parse", large.slice(), "message/rfc822"),
        )} (10 ms clock ticks; JSON and base64 of the answers included)`,
      );
    } finally {
      await mf.dispose();
    }
  },
});
