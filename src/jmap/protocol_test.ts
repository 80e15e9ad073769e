import { assertEquals } from "../../test/fixtures/assert.ts";
import { evaluatePointer, type Invocation, parseRequest, resolveReferences } from "./protocol.ts";

const limits = { maxCallsInRequest: 4, maxSizeRequest: 1000 };
const body = (v: unknown) =>
  new TextEncoder().encode(typeof v === "string" ? v : JSON.stringify(v));

Deno.test("issue19#2: request parsing answers each RFC 8620 3.6.1 error type", () => {
  const type = (v: unknown) => {
    const r = parseRequest(body(v), limits);
    return r.ok ? "ok" : r.problem.type.split(":").pop();
  };
  assertEquals(type("{"), "notJSON");
  assertEquals(type([]), "notRequest");
  assertEquals(type({ using: "x", methodCalls: [] }), "notRequest");
  assertEquals(type({ using: [], methodCalls: [["a", [], "c"]] }), "notRequest");
  assertEquals(type({ using: ["urn:nope"], methodCalls: [] }), "unknownCapability");
  assertEquals(type({ using: [], methodCalls: Array(5).fill(["a", {}, "c"]) }), "limit");
  assertEquals(type("x".repeat(1001)), "limit");
  assertEquals(type({ using: ["urn:ietf:params:jmap:core"], methodCalls: [["a", {}, "c"]] }), "ok");
  // Invalid UTF-8 is not I-JSON.
  const r = parseRequest(new Uint8Array([0x7b, 0xff, 0x7d]), limits);
  assertEquals(r.ok ? "ok" : r.problem.type.split(":").pop(), "notJSON");
});

Deno.test("issue19#2: result-reference paths are JSON Pointers with `*` (RFC 8620 3.7)", () => {
  const v = { list: [{ id: "a", ids: ["1", "2"] }, { id: "b", ids: ["3"] }], "a/b": 1, "m~n": 2 };
  assertEquals(evaluatePointer(v, "/list/*/id"), { ok: true, value: ["a", "b"] });
  // Arrays from `*` are flattened one level (section 3.7).
  assertEquals(evaluatePointer(v, "/list/*/ids"), { ok: true, value: ["1", "2", "3"] });
  assertEquals(evaluatePointer(v, "/list/1/id"), { ok: true, value: "b" });
  assertEquals(evaluatePointer(v, "/a~1b"), { ok: true, value: 1 });
  assertEquals(evaluatePointer(v, "/m~0n"), { ok: true, value: 2 });
  assertEquals(evaluatePointer(v, "/list/2"), { ok: false });
  assertEquals(evaluatePointer(v, "/nope"), { ok: false });
  assertEquals(evaluatePointer(v, "list"), { ok: false });

  const responses: Invocation[] = [["Email/query", { ids: ["e1"] }, "t0"]];
  assertEquals(
    resolveReferences({ "#ids": { resultOf: "t0", name: "Email/query", path: "/ids" } }, responses),
    { ids: ["e1"] },
  );
  let type = "";
  try {
    resolveReferences({ "#ids": { resultOf: "t0", name: "Email/get", path: "/ids" } }, responses);
  } catch (e) {
    type = (e as { type: string }).type;
  }
  assertEquals(type, "invalidResultReference");
});
