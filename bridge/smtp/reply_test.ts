import assert from "node:assert/strict";
import { formatReply, Replies, SmtpError } from "./reply.ts";
import { decodeBase64Text, SaslExchange } from "./sasl.ts";

Deno.test("formatReply: single and multi-line replies (RFC 5321 section 4.2.1)", () => {
  assert.equal(formatReply(Replies.ok), "250 2.0.0 OK\r\n");
  assert.equal(
    formatReply({ code: 250, text: ["mx.test greets c.test", "PIPELINING", "SIZE 10"] }),
    "250-mx.test greets c.test\r\n250-PIPELINING\r\n250 SIZE 10\r\n",
  );
  assert.equal(
    formatReply({ code: 550, enhanced: "5.7.1", text: ["one", "two"] }),
    "550-5.7.1 one\r\n550 5.7.1 two\r\n",
  );
  assert.equal(formatReply({ code: 334, text: "" }), "334 \r\n");
});

Deno.test("formatReply: no injected lines, no mismatched or malformed codes", () => {
  assert.equal(
    formatReply({ code: 451, enhanced: "4.3.0", text: "bad\r\n250 2.0.0 fake" }),
    "451 4.3.0 bad  250 2.0.0 fake\r\n",
  );
  // RFC 3463 section 2: the class must match the reply's first digit.
  assert.equal(formatReply({ code: 550, enhanced: "4.1.1", text: "x" }), "550 x\r\n");
  assert.equal(formatReply({ code: 250, enhanced: "2.0", text: "x" }), "250 x\r\n");
  assert.equal(formatReply({ code: 99, enhanced: "4.3.0", text: "x" }), "451 4.3.0 x\r\n");
});

Deno.test("SmtpError carries the reply", () => {
  const error = new SmtpError(Replies.relayDenied);
  assert.deepEqual(error.reply, { code: 550, enhanced: "5.7.1", text: "relaying denied" });
  assert.equal(error.permanent, true);
  assert.equal(new SmtpError(Replies.tempLocal).permanent, false);
});

Deno.test("SASL: strict base64 and UTF-8", () => {
  assert.equal(decodeBase64Text(btoa("user")), "user");
  assert.equal(decodeBase64Text(""), "");
  assert.equal(decodeBase64Text("dXNlcg"), undefined, "padding is required");
  assert.equal(decodeBase64Text("dX Nl"), undefined);
  assert.equal(decodeBase64Text(btoa("\xff\xfe")), undefined, "not UTF-8");
  assert.equal(decodeBase64Text(btoa("j\xc3\xb6ran")), "jöran");
});

Deno.test("SASL PLAIN (RFC 4616 section 2) and LOGIN step by step", () => {
  const [, step] = SaslExchange.start("PLAIN", btoa("\0tim\0tanstaaftanstaaf"));
  assert.deepEqual(step, { type: "credentials", username: "tim", password: "tanstaaftanstaaf" });
  const [, proxy] = SaslExchange.start("PLAIN", btoa("Ursel\0Kurt\0xipj3plmq"));
  assert.deepEqual(proxy, { type: "error", reply: Replies.authFailed });
  const [login, first] = SaslExchange.start("LOGIN");
  assert.deepEqual(first, { type: "challenge", challenge: "VXNlcm5hbWU6" });
  assert.deepEqual(login.next(btoa("tim")), { type: "challenge", challenge: "UGFzc3dvcmQ6" });
  assert.deepEqual(login.next(btoa("pw")), {
    type: "credentials",
    username: "tim",
    password: "pw",
  });
  const [cancel] = SaslExchange.start("LOGIN");
  assert.deepEqual(cancel.next("*"), { type: "error", reply: Replies.authCancelled });
});
