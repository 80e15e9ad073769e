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
  const re = /([^\s"'>\/=]+)(?:\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s>]+)))?/g;
  for (let m = re.exec(source); m; m = re.exec(source)) {
    const name = m[1].toLowerCase();
    if (!attrs.has(name)) attrs.set(name, decodeEntities(m[2] ?? m[3] ?? m[4] ?? ""));
  }
  return attrs;
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
  const tag =
    /<!--[\s\S]*?(?:-->|$)|<(\/?)([a-zA-Z][^\s\/>]*)((?:[^>"']|"[^"]*"|'[^']*')*)>|<[!?][^>]*>?/g;
  let last = 0;
  for (let m = tag.exec(html); m; m = tag.exec(html)) {
    text(decodeEntities(html.slice(last, m.index)));
    last = tag.lastIndex;
    if (!m[2]) continue; // a comment, doctype or processing instruction
    const name = m[2].toLowerCase();
    if (m[1]) {
      // An end tag closes the nearest open element of its name and all inside it.
      if (open.get(name)) {
        let index = stack.length - 1;
        while (stack[index].name !== name) index--;
        popTo(index);
      } else if (name === "p") {
        push({ name: "p", attrs: new Map(), children: [] });
        popTo(stack.length - 1);
      } else if (name === "br") {
        push({ name: "br", attrs: new Map(), children: [] }), popTo(stack.length - 1);
      }
      continue;
    }
    const implied = IMPLIES_CLOSE[name];
    if (implied) {
      while (stack.length > 1 && implied.has(top().name)) popTo(stack.length - 1);
    }
    const el: Element = { name, attrs: attributes(m[3]), children: [] };
    push(el);
    if (VOID.has(name)) {
      popTo(stack.length - 1);
      continue;
    }
    if (RAW_TEXT.has(name)) {
      const end = html.slice(last).search(new RegExp(`</${name}\\s*>`, "i"));
      const content = end < 0 ? html.slice(last) : html.slice(last, last + end);
      if (content) {
        el.children.push(
          name === "title" || name === "textarea" ? decodeEntities(content) : content,
        );
      }
      last = end < 0 ? html.length : html.indexOf(">", last + end) + 1;
      tag.lastIndex = last;
      popTo(stack.length - 1);
    }
  }
  text(decodeEntities(html.slice(last)));
  return root;
}
