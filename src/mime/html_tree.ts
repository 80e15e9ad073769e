/**
 * An HTML document read into a tree the way htmlparser2 (behind html-to-text, behind the process
 * host's parser) reads it in HTML mode, so that both MIME ports see the same elements: void
 * elements never open; opening some elements closes others first (a <p> closes an open <p>, a
 * <li> an open <li>, a <td> an open <td>…); an end tag closes the nearest open element of its
 * name and everything inside it, a stray </p> is an empty paragraph and a stray </br> a line
 * break; script, style, title and textarea hold raw text up to their end tag; comments,
 * doctypes and processing instructions are dropped; character references are decoded. Built
 * iteratively (no recursion, whatever the nesting). Pure; linear; never throws.
 */
import { decodeEntities } from "./html_entities.ts";

export interface Element {
  name: string;
  attrs: Map<string, string>;
  children: Node[];
  parent?: Element;
}
export type Node = Element | string;

export const VOID = new Set(
  "area base basefont br col command embed frame hr image img input isindex keygen link meta param source track wbr"
    .split(" "),
);
/** Elements whose content is text up to their end tag (htmlparser2's special tags). */
const RAW_TEXT = new Set(["script", "style", "title", "textarea"]);
/** Content that is not text at all. */
export const DROPPED = new Set(["script", "style"]);

const closesP =
  "address article aside blockquote details div dl fieldset figcaption figure footer form h1 h2 h3 h4 h5 h6 header hr main nav ol p pre section table ul"
    .split(" ");
/** Opening a key element closes these open ones first (htmlparser2's openImpliesClose). */
const IMPLIES_CLOSE: Record<string, Set<string>> = {
  tr: new Set(["tr", "th", "td"]),
  th: new Set(["th"]),
  td: new Set(["thead", "th", "td"]),
  body: new Set(["head", "link", "script"]),
  li: new Set(["li"]),
  option: new Set(["option"]),
  optgroup: new Set(["optgroup", "option"]),
  dd: new Set(["dt", "dd"]),
  dt: new Set(["dt", "dd"]),
  select: new Set(["input", "textarea", "select"]),
  input: new Set(["input", "textarea", "select"]),
  textarea: new Set(["input", "textarea", "select"]),
  rt: new Set(["rt", "rp"]),
  rp: new Set(["rt", "rp"]),
  tbody: new Set(["thead", "tbody"]),
  tfoot: new Set(["thead", "tbody"]),
};
for (const name of closesP) IMPLIES_CLOSE[name] = new Set(["p"]);

function attributes(source: string): Map<string, string> {
  const attrs = new Map<string, string>();
  const re = /([^\s>\/=][^\s>\/=]*)(?:\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s>]+)))?/g;
  for (let m = re.exec(source); m; m = re.exec(source)) {
    const name = m[1].toLowerCase();
    if (!attrs.has(name)) attrs.set(name, decodeEntities(m[2] ?? m[3] ?? m[4] ?? ""));
  }
  return attrs;
}

/** Names whose start htmlparser2 reads as a possible raw-text element (its "special" tags). */
const SPECIAL = ["script", "style", "title", "textarea"];

/**
 * What htmlparser2 emits as text for a construct cut off by the end of the input: a tag name that
 * may still become a raw-text element's ("<sty"), what follows a declaration, processing
 * instruction or bogus comment ("<!x", "</4"), what follows an end tag's name; nothing for a tag
 * in its name or attributes, or a comment.
 */
function trailingText(m: RegExpExecArray): string {
  const whole = m[0];
  if (whole.startsWith("<!--")) return "";
  if (m[1] !== undefined) return whole.slice(2 + m[1].length).trimStart();
  if (m[3] !== undefined) {
    const name = m[3].toLowerCase();
    return m[4] === "" && SPECIAL.some((s) => s.startsWith(name)) ? m[3] : "";
  }
  return whole === "</" ? whole : whole.slice(2);
}

/** The document tree, as htmlparser2 builds it in HTML mode. */
export function parseHtml(html: string): Element {
  const root: Element = { name: "#root", attrs: new Map(), children: [] };
  const stack: Element[] = [root];
  const top = () => stack[stack.length - 1];
  const open = new Map<string, number>();
  const push = (el: Element) => {
    el.parent = top();
    top().children.push(el);
    stack.push(el);
    open.set(el.name, (open.get(el.name) ?? 0) + 1);
  };
  const popTo = (index: number) => {
    while (stack.length > index) {
      const el = stack.pop()!;
      open.set(el.name, open.get(el.name)! - 1);
    }
  };
  const text = (data: string) => {
    if (!data) return;
    const siblings = top().children;
    const last = siblings[siblings.length - 1];
    if (typeof last === "string") siblings[siblings.length - 1] = last + data;
    else siblings.push(data);
  };
  // A comment; an end tag (anything up to ">"); a start tag (attribute values may hold ">");
  // a doctype or processing instruction; "</" and no letter (a bogus comment). Any of them cut
  // off by the end of the input is dropped, as htmlparser2 drops it.
  const tag = new RegExp(
    String.raw`<!--[\s\S]*?(?:-->|$)|<\/([a-zA-Z][^\s\/>]*)[^>]*(>|$)|` +
      String.raw`<([a-zA-Z][^\s\/>]*)((?:[^>=]|=\s*(?:"[^"]*"|'[^']*'|))*)(>|$)|` +
      String.raw`<[!?][^>]*(?:>|$)|<\/(?:[^a-zA-Z>][^>]*)?(?:>|$)`,
    "g",
  );
  /** Text up to a tag whose quotes never close (the rest of the input is inside that tag). */
  const textBefore = (from: number, to: number): boolean => {
    const segment = html.slice(from, to);
    const open = segment.search(/<\/?[a-zA-Z]/);
    text(decodeEntities(open < 0 ? segment : segment.slice(0, open)));
    return open < 0;
  };
  let last = 0;
  for (let m = tag.exec(html); m; m = tag.exec(html)) {
    if (!textBefore(last, m.index)) return root;
    last = tag.lastIndex;
    const cut = !m[0].endsWith(">") && tag.lastIndex === html.length;
    if (cut) {
      // A construct the input ends inside: htmlparser2 gives some of it back as text.
      text(trailingText(m));
      continue;
    }
    if (m[1] !== undefined) {
      const name = m[1].toLowerCase();
      // An end tag closes the nearest open element of its name and all inside it.
      if (open.get(name)) {
        let index = stack.length - 1;
        while (stack[index].name !== name) index--;
        popTo(index);
      } else if (name === "p" || name === "br") {
        // A stray </p> is an empty paragraph, a stray </br> a line break.
        push({ name, attrs: new Map(), children: [] });
        popTo(stack.length - 1);
      }
      continue;
    }
    if (m[0] === "</>") text(m[0]); // kept as text, as htmlparser2 keeps it
    if (m[3] === undefined) continue; // a comment, doctype or processing instruction
    const name = m[3].toLowerCase();
    const implied = IMPLIES_CLOSE[name];
    if (implied) {
      while (stack.length > 1 && implied.has(top().name)) popTo(stack.length - 1);
    }
    const el: Element = { name, attrs: attributes(m[4]), children: [] };
    push(el);
    if (VOID.has(name)) {
      popTo(stack.length - 1);
      continue;
    }
    if (RAW_TEXT.has(name)) {
      // Raw text runs to "</name" followed by whitespace or ">".
      const end = html.slice(last).search(new RegExp(`</${name}(?=[\\s>])`, "i"));
      const content = end < 0 ? html.slice(last) : html.slice(last, last + end);
      if (content) {
        el.children.push(
          name === "title" || name === "textarea" ? decodeEntities(content) : content,
        );
      }
      const close = end < 0 ? -1 : html.indexOf(">", last + end);
      popTo(stack.length - 1);
      // An end tag the input ends inside gives back what follows its name.
      if (end >= 0 && close < 0) text(html.slice(last + end + 2 + name.length).trimStart());
      last = close < 0 ? html.length : close + 1;
      tag.lastIndex = last;
    }
  }
  textBefore(last, html.length);
  return root;
}
