/**
 * Plain text from an HTML body, for a message without a text part (search, previews, the `text`
 * of the JSON form), laid out by html-to-text's default rules so that both MIME ports give the
 * same text (the process host's mailparser uses html-to-text): only the <body> when there is one;
 * script and style dropped; whitespace collapsed outside <pre>; words wrapped at 80 columns;
 * paragraphs, headings (upper case), lists (" * ", " 1. "), blockquotes ("> "), rules and block
 * elements on lines of their own; links as "text [href]"; images as "alt [src]". The tree comes
 * from html_tree.ts and is walked at most `MAX_DEPTH` deep. Linear; never throws.
 */
import { DROPPED, type Element, type Node, parseHtml, VOID } from "./html_tree.ts";

// ---------------------------------------------------------------------------------------------
// html-to-text's text builder: blocks hold wrapped inline text, closed blocks join their parent
// with the larger of the line breaks around them.

const WORDWRAP = 80;
const MAX_DEPTH = 1000;

class InlineText {
  lines: string[][] = [];
  words: string[] = [];
  available: number;
  stashedSpace = false;
  breakOpportunity = false;
  constructor(readonly max: number) {
    this.available = max;
  }
  pushWord(word: string) {
    if (this.available <= 0) this.newLine();
    const lineStart = this.words.length === 0;
    const cost = word.length + (lineStart ? 0 : 1);
    if (cost <= this.available) {
      this.words.push(word);
      this.available -= cost;
    } else {
      // A word too long for the rest of the line starts the next one (long words are not split).
      if (!lineStart) this.newLine();
      this.words.push(word);
      this.available -= word.length;
    }
  }
  popWord(): string | undefined {
    const word = this.words.pop();
    if (word !== undefined) this.available += word.length + (this.words.length === 0 ? 0 : 1);
    return word;
  }
  concatWord(word: string) {
    if (this.breakOpportunity && word.length > this.available) {
      this.pushWord(word);
      this.breakOpportunity = false;
    } else {
      const last = this.popWord();
      this.pushWord(last ? last + word : word);
    }
  }
  newLine(n = 1) {
    this.lines.push(this.words);
    for (let i = 1; i < n; i++) this.lines.push([]);
    this.words = [];
    this.available = this.max;
  }
  isEmpty() {
    return this.lines.length === 0 && this.words.length === 0;
  }
  clear() {
    this.lines = [];
    this.words = [];
    this.available = this.max;
  }
  toString() {
    return [...this.lines, this.words].map((w) => w.join(" ")).join("\n");
  }
}

interface Block {
  kind: "block" | "list" | "item";
  next?: Block;
  leading: number;
  inline: InlineText;
  raw: string;
  stashed: number;
  pre: boolean;
  /** Lists: the widest prefix; items: their own prefix. */
  prefixLength: number;
  prefix: string;
}

const WHITESPACE = /[ \t\r\n\f\u200b]/;
const WORD = /[^ \t\r\n\f\u200b]+/g;

class Builder {
  item: Block;
  transforms: ((s: string) => string)[] = [];
  constructor() {
    this.item = this.block("block", undefined, 1, WORDWRAP);
  }
  block(kind: Block["kind"], next: Block | undefined, leading: number, max: number): Block {
    return {
      kind,
      next,
      leading,
      inline: new InlineText(max),
      raw: "",
      stashed: 0,
      pre: next?.pre ?? false,
      prefixLength: 0,
      prefix: "",
    };
  }
  transform(word: string): string {
    let out = word;
    for (let i = this.transforms.length - 1; i >= 0; i--) out = this.transforms[i](out);
    return out;
  }
  addLineBreak() {
    if (this.item.kind === "list") return;
    if (this.item.pre) this.item.raw += "\n";
    else this.item.inline.newLine();
  }
  addWordBreak() {
    if (this.item.kind !== "list") this.item.inline.breakOpportunity = true;
  }
  addInline(text: string, transform = true) {
    const item = this.item;
    if (item.kind === "list") return;
    if (item.pre) {
      item.raw += text;
      return;
    }
    if (text.length === 0 || (item.stashed && !/[^ \t\r\n\f\u200b]/.test(text))) return;
    if (item.stashed) item.inline.newLine(item.stashed);
    const inline = item.inline;
    const stashedBefore = inline.stashedSpace;
    let any = false;
    WORD.lastIndex = 0;
    for (let m = WORD.exec(text), first = true; m; m = WORD.exec(text), first = false) {
      any = true;
      const word = transform ? this.transform(m[0]) : m[0];
      if (first && !stashedBefore && !WHITESPACE.test(text[0])) inline.concatWord(word);
      else inline.pushWord(word);
    }
    inline.stashedSpace = (stashedBefore && !any) || WHITESPACE.test(text[text.length - 1]);
    item.stashed = 0;
  }
  openBlock(leading: number, reserved = 0, pre = false) {
    const max = Math.max(20, this.item.inline.max - reserved);
    this.item = this.block("block", this.item, leading, max);
    if (pre) this.item.pre = true;
  }
  closeBlock(trailing: number, transform?: (s: string) => string) {
    const block = this.item;
    this.item = block.next!;
    const text = transform ? transform(textOf(block)) : textOf(block);
    addText(this.item, text, block.leading, Math.max(block.stashed, trailing));
  }
  openList(leading: number, prefixLength: number) {
    this.item = this.block("list", this.item, leading, this.item.inline.max);
    this.item.prefixLength = prefixLength;
  }
  openItem(prefix: string) {
    const list = this.item;
    const length = Math.max(prefix.length, list.prefixLength);
    this.item = this.block("item", list, 1, Math.max(20, list.inline.max - length));
    this.item.prefix = prefix;
  }
  closeItem() {
    const item = this.item;
    const list = item.next!;
    this.item = list;
    const length = Math.max(item.prefix.length, list.prefixLength);
    const text = item.prefix.padEnd(length) +
      textOf(item).replace(/\n/g, "\n" + " ".repeat(length));
    addText(list, text, item.leading, Math.max(item.stashed, 1));
  }
  closeList(trailing: number) {
    const list = this.item;
    this.item = list.next!;
    const text = textOf(list);
    if (text) addText(this.item, text, list.leading, trailing);
  }
}

function textOf(item: Block): string {
  return item.inline.isEmpty() ? item.raw : item.raw + item.inline.toString();
}

function addText(item: Block, text: string, leading: number, trailing: number) {
  const parent = textOf(item);
  const breaks = Math.max(item.stashed, leading);
  item.inline.clear();
  if (parent) item.raw = parent + "\n".repeat(breaks) + text;
  else {
    item.raw = text;
    item.leading = breaks;
  }
  item.stashed = trailing;
}

const trimNewlines = (s: string) => s.replace(/^\n+|\n+$/g, "");

const BLOCK_ONE = new Set([
  "article",
  "aside",
  "div",
  "footer",
  "form",
  "header",
  "main",
  "nav",
  "section",
]);
const HEADINGS: Record<string, number> = { h1: 3, h2: 3, h3: 3, h4: 2, h5: 2, h6: 2 };

function walk(nodes: Node[], b: Builder, depth: number): void {
  if (depth > MAX_DEPTH) return;
  for (const node of nodes) {
    if (typeof node === "string") b.addInline(node);
    else format(node, b, depth);
  }
}

function format(el: Element, b: Builder, depth: number): void {
  const name = el.name;
  const children = () => walk(el.children, b, depth + 1);
  if (DROPPED.has(name)) return;
  if (name === "br") return b.addLineBreak();
  if (name === "wbr") return b.addWordBreak();
  if (BLOCK_ONE.has(name)) {
    b.openBlock(1);
    children();
    return b.closeBlock(1);
  }
  if (name === "p" || name === "table") {
    b.openBlock(2);
    children();
    return b.closeBlock(2);
  }
  if (name === "pre") {
    b.openBlock(2, 0, true);
    children();
    return b.closeBlock(2);
  }
  if (name in HEADINGS) {
    b.openBlock(HEADINGS[name]);
    b.transforms.push((s) => s.toUpperCase());
    children();
    b.transforms.pop();
    return b.closeBlock(2);
  }
  if (name === "blockquote") {
    b.openBlock(2, 2);
    children();
    return b.closeBlock(
      2,
      (s) => trimNewlines(s).split("\n").map((line) => "> " + line).join("\n"),
    );
  }
  if (name === "hr") {
    b.openBlock(2);
    b.addInline("-".repeat(WORDWRAP));
    return b.closeBlock(2);
  }
  if (name === "img") {
    const alt = el.attrs.get("alt") ?? "";
    const src = el.attrs.get("src") ?? "";
    return b.addInline(!src ? alt : !alt ? `[${src}]` : `${alt} [${src}]`, false);
  }
  if (name === "a") {
    let href = (el.attrs.get("href") ?? "").replace(/^mailto:/, "");
    if (href.startsWith("#")) href = "";
    if (!href) return children();
    let text = "";
    b.transforms.push((s) => {
      text += s;
      return s;
    });
    children();
    b.transforms.pop();
    return b.addInline(text ? ` [${href}]` : href, false);
  }
  if (name === "ul" || name === "ol") {
    const nested = el.parent?.name === "li";
    let n = Number(el.attrs.get("start") ?? "1");
    if (!Number.isFinite(n)) n = 1;
    const items = el.children.filter((c) => typeof c !== "string" || !/^\s*$/.test(c));
    if (items.length === 0) return;
    const prefixes = items.map((c) => {
      if (typeof c === "string" || c.name !== "li") return "";
      const prefix = name === "ul" ? " * " : ` ${n++}. `;
      return nested ? prefix.trimStart() : prefix;
    });
    b.openList(nested ? 1 : 2, Math.max(...prefixes.map((p) => p.length)));
    items.forEach((item, i) => {
      b.openItem(prefixes[i]);
      walk([item], b, depth + 1);
      b.closeItem();
    });
    return b.closeList(nested ? 1 : 2);
  }
  children();
}

/** The text of an HTML document or fragment. */
export function htmlToText(html: string): string {
  const root = parseHtml(html);
  // Only the <body> elements, when there are any (html-to-text's base elements), in order.
  const bodies: Element[] = [];
  const find = (el: Element, depth: number) => {
    if (depth > MAX_DEPTH) return;
    for (const child of el.children) {
      if (typeof child === "string") continue;
      if (child.name === "body") bodies.push(child);
      else find(child, depth + 1);
    }
  };
  find(root, 0);
  const b = new Builder();
  walk(bodies.length > 0 ? bodies : root.children, b, 0);
  return textOf(b.item);
}

/** Elements that hold no content, and those HTML closes when a sibling opens, for the depth count. */
const IMPLIED_END = new Set(
  "p li dt dd option optgroup tr td th thead tbody tfoot rt rp".split(" "),
);

/**
 * Whether elements nest deeper than `limit` (mailparser's guard, kept so that both ports give
 * no text for the same HTML): one linear pass, start tags open, end tags close down to the
 * nearest open element of their name, void and implied-end elements never count.
 */
export function nestedDeeperThan(html: string, limit: number): boolean {
  const stack: string[] = [];
  const open = new Map<string, number>();
  const tag = /<!--[\s\S]*?(?:-->|$)|<(\/?)([a-zA-Z0-9:_-]+)[^>]*>/g;
  for (let m = tag.exec(html); m; m = tag.exec(html)) {
    if (!m[2]) continue;
    const name = m[2].toLowerCase();
    if (VOID.has(name) || IMPLIED_END.has(name)) continue;
    if (!m[1]) {
      stack.push(name);
      open.set(name, (open.get(name) ?? 0) + 1);
      if (stack.length > limit) return true;
    } else if (open.get(name)) {
      let popped: string | undefined;
      do {
        popped = stack.pop()!;
        open.set(popped, open.get(popped)! - 1);
      } while (popped !== name);
    }
  }
  return false;
}
