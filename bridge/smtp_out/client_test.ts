import assert from "node:assert/strict";
import { parseReply } from "./client.ts";

Deno.test("SMTP replies: code, enhanced status (RFC 3463) and text, multi-line too", () => {
  assert.deepEqual(parseReply("550 5.1.1 <bob@x>: no such user"), {
    code: 550,
    enhanced: "5.1.1",
    text: "<bob@x>: no such user",
  });
  assert.deepEqual(parseReply("451 try again later"), {
    code: 451,
    enhanced: undefined,
    text: "try again later",
  });
  assert.deepEqual(parseReply("250-2.0.0 first\r\n250 2.0.0 queued as 42"), {
    code: 250,
    enhanced: "2.0.0",
    text: "first queued as 42",
  });
  assert.equal(parseReply(""), undefined);
  assert.equal(parseReply("garbage"), undefined);
});
