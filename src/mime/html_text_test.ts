import assert from "node:assert/strict";
import { htmlToText, nestedDeeperThan } from "./html_text.ts";

Deno.test("HTML to text: html-to-text's layout (blocks, headings, links, lists, wrapping at 80)", () => {
  assert.equal(
    htmlToText(
      "<html><head><style>p{}</style></head><body><h1>Title</h1><p>Hello <a href='https://x.test'>" +
        "link</a> &amp; more&#x21;</p><script>evil()</script><ol><li>a<li>b</ol><pre>  kept\n  " +
        "lines</pre><blockquote>quoted</blockquote>x<br>y</body></html>",
    ),
    "TITLE\n\nHello link [https://x.test] & more!\n\n 1. a\n 2. b\n\n  kept\n  lines\n\n> quoted\n\nx\ny",
  );
});

Deno.test("HTML to text: words wrap at 80 columns; blockquotes and nested lists are prefixed", () => {
  const words = "The quick brown fox jumps over the lazy dog. ".repeat(3).trim();
  assert.equal(
    htmlToText(`<p>${words}</p>`),
    "The quick brown fox jumps over the lazy dog. The quick brown fox jumps over the\nlazy dog. The quick brown fox jumps over the lazy dog.",
  );
  assert.equal(
    htmlToText("<blockquote>a<blockquote>b</blockquote></blockquote>"),
    "> a\n> \n> > b",
  );
  assert.equal(
    htmlToText("<ul><li>a<ul><li>b</li></ul></li><li>c</li></ul>"),
    " * a\n   * b\n * c",
  );
  assert.equal(
    htmlToText("a &copy; &hearts; &#169; &unknown; &amp &#128;"),
    "a © ♥ © &unknown; & €",
  );
});

Deno.test("HTML nesting: counted as mailparser counts it (void and implied-end elements do not nest)", () => {
  assert.equal(nestedDeeperThan("<div>".repeat(1001), 1000), true);
  assert.equal(nestedDeeperThan("<div>".repeat(1000), 1000), false);
  assert.equal(nestedDeeperThan("<p>".repeat(5000) + "<br>".repeat(5000), 1000), false);
  assert.equal(nestedDeeperThan("<b></b>".repeat(5000), 1000), false);
});
