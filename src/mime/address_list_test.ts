import assert from "node:assert/strict";
import { domainToUnicode, readAddressList } from "./address_list.ts";

Deno.test("address lists: RFC 5322 section 3.4 forms and what real headers carry", () => {
  const cases: [string, [string, string][]][] = [
    ["a@x.test", [["", "a@x.test"]]],
    ["Alice <alice@x.test>, <bob@x.test>", [["Alice", "alice@x.test"], ["", "bob@x.test"]]],
    ['"Doe, John" <john@x.test>', [["Doe, John", "john@x.test"]]],
    ["Joe Foo, PhD <joe@x.test>", [["Joe Foo, PhD", "joe@x.test"]]],
    ["a@x.test (Alice)", [["Alice", "a@x.test"]]],
    ["Team: a@x.test, Bob <b@x.test>;, c@x.test", [["", "a@x.test"], ["Bob", "b@x.test"], [
      "",
      "c@x.test",
    ]]],
    ["undisclosed-recipients:;", []],
    ["=?utf-8?q?Al=C3=AFce?= <alice@x.test>", [["Alïce", "alice@x.test"]]],
    // RFC 2047 section 5: an encoded-word is no address, unless it decodes to a plain one.
    ["=?utf-8?q?a=20b?=@evil.test", []],
    ["=?utf-8?q?plain?=@x.test", [["", "plain@x.test"]]],
    ["bob@xn--bcher-kva.example", [["", "bob@bücher.example"]]],
    ["just a name", []],
    ["broken <a@x.test", [["broken", "a@x.test"]]],
  ];
  for (const [value, want] of cases) {
    assert.deepEqual(readAddressList(value).map((a) => [a.name, a.address]), want, value);
  }
});

Deno.test("RFC 3492 section 7.1: Punycode samples decode", () => {
  assert.equal(domainToUnicode("xn--egbpdaj6bu4bxfgehfvwxn"), "ليهمابتكلموشعربي؟");
  assert.equal(domainToUnicode("xn--ihqwcrb4cv8a8dqg056pqjye"), "他们为什么不说中文");
  assert.equal(domainToUnicode("mail.xn--mnchen-3ya.de"), "mail.münchen.de");
  assert.equal(domainToUnicode("xn--broken-!"), "xn--broken-!");
  assert.equal(domainToUnicode("xn--bcher%kva.example"), "xn--bcher%kva.example");
});
