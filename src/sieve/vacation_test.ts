/**
 * RFC 5230 and RFC 3834's rules on whom a vacation action answers, and the reply's form; the
 * spam conditions of the simple rules (compile_rules.ts) run against X-Spam-* fields.
 */
import { assert, assertEquals } from "../../test/fixtures/assert.ts";
import { headerFields } from "../mime/header_block.ts";
import type { SieveMessage, VacationRequest } from "./context.ts";
import { compileManaged } from "./compile_rules.ts";
import { runSieve } from "./interpreter.ts";
import { parseScript } from "./validate.ts";
import { composeVacation, decideVacation } from "./vacation.ts";

const request = (r: Partial<VacationRequest> = {}): VacationRequest => ({
  reason: "Away.",
  days: 7,
  addresses: [],
  mime: false,
  ...r,
});

const msg = (head: string, from = "carol@example.org"): SieveMessage => ({
  headers: headerFields(head),
  envelope: { from, to: "me@example.com" },
  size: 100,
  body: { parts: [], raw: "" },
  now: 0,
});

Deno.test("issue21#2: vacation answers only mail named to one of the user's addresses (RFC 5230 4.5)", () => {
  const own = ["me@example.com"];
  const decide = (head: string, r = request(), from?: string) =>
    decideVacation({ request: r, msg: msg(head, from), own });
  assert(decide("To: Me <me@example.com>\nSubject: hi").send);
  assert(decide("Cc: me+tag@example.com").send, "a +detail of the address counts");
  assert(!decide("To: list@example.com").send);
  assert(decide("To: me@old.example", request({ addresses: ["me@old.example"] })).send);
  assert(!decide("To: me@example.com", request(), "me@example.com").send, "not to oneself");
  assert(!decide("To: me@example.com", request(), "listserv@example.org").send);
  assert(!decide("To: me@example.com", request(), "news-request@example.org").send);
  assert(!decide("To: me@example.com\nList-Unsubscribe: <mailto:u@example.org>").send);
  assert(!decide("To: me@example.com\nPrecedence: junk").send);
  assert(!decide("To: me@example.com\nAuto-Submitted: auto-replied").send);
  assert(decide("To: me@example.com\nAuto-Submitted: no").send);
  // Section 4.4: `:from` only when it is the user's; otherwise the user's own address.
  const spoof = decide("To: me@example.com", request({ from: "ceo@bank.example" }));
  assertEquals(spoof.send && spoof.from, "me@example.com");
  const alias = decide(
    "To: me@example.com",
    request({ from: "Me <me@old.example>", addresses: ["me@old.example"] }),
  );
  assertEquals(alias.send && alias.from, "Me <me@old.example>");
});

Deno.test("issue21#2: the vacation reply's fields (RFC 5230 section 5, RFC 3834 section 3)", () => {
  const m = msg(
    "To: me@example.com\nSubject: =?UTF-8?B?w6l0w6k=?=\nMessage-ID: <a@x>\nReferences: <z@x>",
  );
  const d = decideVacation({ request: request(), msg: m, own: ["me@example.com"] });
  assert(d.send);
  assertEquals(d.subject, "Auto: été");
  const text = new TextDecoder().decode(
    composeVacation(d, request(), m, "mx.example.com", Date.UTC(2026, 0, 1)).raw,
  );
  assert(/^Auto-Submitted: auto-replied\r$/m.test(text));
  assert(/^In-Reply-To: <a@x>\r$/m.test(text));
  assert(/^References: <z@x> <a@x>\r$/m.test(text));
  assert(/^Subject: =\?/m.test(text), "a non-ASCII subject is encoded");
  const mime = composeVacation(
    d,
    request({ mime: true, reason: "Content-Type: text/html\r\n\r\n<b>Away</b>" }),
    m,
    "mx.example.com",
    0,
  );
  assert(new TextDecoder().decode(mime.raw).includes("Content-Type: text/html\r\n\r\n<b>Away</b>"));
});

Deno.test("issue21#2: spam conditions of the simple rules read X-Spam-Flag and X-Spam-Score", () => {
  const script = compileManaged([
    {
      enabled: true,
      match: "all",
      conditions: [{ field: "spam", op: "over", value: 5 }],
      actions: [{ type: "fileinto", mailbox: "Junk" }],
    },
    {
      enabled: true,
      match: "all",
      conditions: [{ field: "spam", op: "is" }],
      actions: [{ type: "discard" }],
    },
  ], null);
  const parsed = parseScript(script);
  assert(parsed.ok, JSON.stringify(parsed));
  const run = (head: string) => runSieve([parsed.program], msg(head));
  assertEquals(run("X-Spam-Score: 7.5").fileinto.map((f) => f.mailbox), ["Junk"]);
  assertEquals(run("X-Spam-Score: 4.9").fileinto.length, 0);
  assertEquals(run("X-Spam-Score: -12.0").fileinto.length, 0, "a negative score is below");
  assertEquals(run("X-Spam-Score: 3\nX-Spam-Flag: YES").discarded, true);
  assertEquals(run("Subject: no verdict").keep !== undefined, true);
});
