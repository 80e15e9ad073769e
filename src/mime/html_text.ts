/**
 * Plain text from an HTML body, for a message that has no text part (search, previews, the
 * `text` of the JSON form). It follows the layout rules of html-to-text's defaults, which the
 * process host's parser uses: only the body's content; script, style, head and template content
 * dropped; whitespace collapsed outside <pre>; paragraphs, headings (upper case), lists (" * ",
 * "1. "), blockquotes ("> "), horizontal rules and block elements on lines of their own; links
 * as "text [href]" (a fragment link as its text); images as "alt [src]"; character references
 * decoded (HTML Living Standard 13.5, the named ones mail uses). The wording can differ from
 * html-to-text's in corners (word wrapping at 80 columns is not done here, tables are rows of
 * cells); test/mime_edge_port_test.ts compares the two ignoring whitespace. Linear; never throws.
 */

const NAMED: Record<string, string> = {
  amp: "&",
  lt: "<",
  gt: ">",
  quot: '"',
  apos: "'",
  nbsp: "\u00a0",
  copy: "©",
  reg: "®",
  trade: "™",
  hellip: "…",
  mdash: "—",
  ndash: "–",
  lsquo: "‘",
  rsquo: "’",
  ldquo: "“",
  rdquo: "”",
  laquo: "«",
  raquo: "»",
  bull: "•",
  middot: "·",
  euro: "€",
  pound: "£",
  yen: "¥",
  cent: "¢",
  sect: "§",
  para: "¶",
  deg: "°",
  plusmn: "±",
  times: "×",
  divide: "÷",
  shy: "\u00ad",
  zwnj: "\u200c",
  zwj: "\u200d",
  ensp: "\u2002",
  emsp: "\u2003",
  thinsp: "\u2009",
  auml: "ä",
  ouml: "ö",
  uuml: "ü",
  Auml: "Ä",
  Ouml: "Ö",
  Uuml: "Ü",
  szlig: "ß",
  eacute: "é",
  egrave: "è",
  agrave: "à",
  aacute: "á",
  ccedil: "ç",
  ntilde: "ñ",
  oacute: "ó",
  iacute: "í",
  uacute: "ú",
};

/** Character references decoded (numeric ones and the named ones above). */
export function decodeEntities(text: string): string {
  if (!text.includes("&")) return text;
  return text.replace(
    /&(#x[0-9a-f]{1,6}|#[0-9]{1,7}|[a-z][a-z0-9]{1,31});?/gi,
    (match, ref: string) => {
      if (ref[0] === "#") {
        const code = ref[1] === "x" || ref[1] === "X"
          ? parseInt(ref.slice(2), 16)
          : parseInt(ref.slice(1), 10);
        return code > 0 && code <= 0x10ffff && !(code >= 0xd800 && code <= 0xdfff)
          ? String.fromCodePoint(code)
          : "\ufffd";
      }
      return NAMED[ref] ?? NAMED[ref.toLowerCase()] ?? match;
    },
  );
}

/** Elements whose content is not text. */
const SKIP = new Set(["script", "style", "head", "template", "title", "noscript", "object"]);
/** Line breaks before and after each block element (html-to-text's defaults). */
const BLOCKS: Record<string, number> = {
  p: 2,
  pre: 2,
  blockquote: 2,
  ul: 2,
  ol: 2,
  hr: 2,
  table: 2,
  h1: 2,
  h2: 2,
  h3: 2,
  h4: 2,
  h5: 2,
  h6: 2,
  div: 1,
  article: 1,
  aside: 1,
  footer: 1,
  form: 1,
  header: 1,
  main: 1,
  nav: 1,
  section: 1,
  li: 1,
  tr: 1,
  dl: 1,
  dt: 1,
  dd: 1,
  address: 1,
  center: 1,
  figure: 1,
  fieldset: 1,
};
const VOID = new Set([
  "br",
  "hr",
  "img",
  "meta",
  "link",
  "input",
  "area",
  "base",
  "col",
  "wbr",
  "source",
]);

function attribute(tag: string, name: string): string | undefined {
  const m = tag.match(new RegExp(`\\s${name}\\s*=\\s*(?:"([^"]*)"|'([^']*)'|([^\\s>]+))`, "i"));
  return m ? decodeEntities(m[1] ?? m[2] ?? m[3] ?? "") : undefined;
}

interface Frame {
  name: string;
  href?: string;
  text: number;
  list?: { ordered: boolean; n: number };
}

/** The text of an HTML document or fragment. */
export function htmlToText(html: string): string {
  // Only the body, when there is one.
  const bodyAt = html.search(/<body[\s>]/i);
  let source = html;
  if (bodyAt >= 0) {
    const end = html.slice(bodyAt).search(/<\/body\s*>/i);
    source = end >= 0 ? html.slice(bodyAt, bodyAt + end) : html.slice(bodyAt);
  }
  const out: string[] = [];
  let pendingBreaks = 0;
  let atStart = true;
  let space = false;
  let pre = 0;
  let quote = 0;
  let skip = 0;
  let upper = 0;
  const stack: Frame[] = [];
  /** How many of each element are open: a close tag with none open is skipped in O(1). */
  const open = new Map<string, number>();
  /** The open lists, innermost last (an <li> numbers itself from it). */
  const lists: { ordered: boolean; n: number }[] = [];
  let length = 0;

  const lineBreaks = (n: number) => {
    if (!atStart) pendingBreaks = Math.max(pendingBreaks, n);
    space = false;
  };
  const write = (text: string) => {
    if (!text) return;
    if (pendingBreaks > 0) {
      out.push("\n".repeat(pendingBreaks));
      if (quote) out.push("> ".repeat(quote));
      pendingBreaks = 0;
    } else if (space && !atStart) out.push(" ");
    space = false;
    atStart = false;
    out.push(upper ? text.toUpperCase() : text);
    length += text.length;
  };
  const words = (raw: string) => {
    const text = decodeEntities(raw);
    if (pre) {
      const lines = text.split(/\r?\n/);
      lines.forEach((line, i) => {
        if (i > 0) {
          out.push("\n");
          atStart = false;
        }
        write(line);
      });
      return;
    }
    const parts = text.split(/[ \t\r\n\f\u200b]+/);
    parts.forEach((word, i) => {
      if (i > 0) space = true;
      if (word) write(word);
    });
  };

  const tag =
    /<!--[\s\S]*?(?:-->|$)|<(\/?)([a-zA-Z][a-zA-Z0-9:-]*)((?:[^>"']|"[^"]*"|'[^']*')*)>|<![^>]*>/g;
  let last = 0;
  for (let m = tag.exec(source); m; m = tag.exec(source)) {
    if (!skip && m.index > last) words(source.slice(last, m.index));
    last = tag.lastIndex;
    const name = m[2]?.toLowerCase();
    if (!name) continue;
    const closing = m[1] === "/";
    if (SKIP.has(name)) {
      if (closing) skip = Math.max(0, skip - 1);
      else if (!/\/\s*$/.test(m[3])) skip++;
      continue;
    }
    if (skip) continue;
    if (name === "br") {
      if (pendingBreaks === 0) out.push("\n");
      else pendingBreaks++;
      atStart = false;
      space = false;
      continue;
    }
    if (name === "img") {
      if (closing) continue;
      const alt = attribute(m[3], "alt") ?? "";
      const src = attribute(m[3], "src") ?? "";
      write(src ? (alt ? `${alt} [${src}]` : `[${src}]`) : alt);
      continue;
    }
    if (name === "hr") {
      lineBreaks(2);
      write("-".repeat(40));
      lineBreaks(2);
      continue;
    }
    const breaks = BLOCKS[name];
    if (!closing) {
      if (VOID.has(name)) continue;
      const frame: Frame = { name, text: length };
      if (breaks) lineBreaks(breaks);
      if (name === "pre") pre++;
      if (name === "blockquote") quote++;
      if (/^h[1-6]$/.test(name) || name === "th") upper++;
      if (name === "ul" || name === "ol") {
        frame.list = { ordered: name === "ol", n: 0 };
        lists.push(frame.list);
      }
      if (name === "li") {
        const list = lists[lists.length - 1];
        write(list?.ordered ? `${++list.n}.` : "*");
        space = true;
      }
      if (name === "td" || name === "th") space = true;
      if (name === "a") frame.href = attribute(m[3], "href");
      stack.push(frame);
      open.set(name, (open.get(name) ?? 0) + 1);
      continue;
    }
    // Close the nearest open element of that name and everything above it.
    if (!open.get(name)) continue;
    let index = stack.length - 1;
    while (index >= 0 && stack[index].name !== name) index--;
    if (index < 0) continue;
    for (const frame of stack.splice(index).reverse()) {
      open.set(frame.name, open.get(frame.name)! - 1);
      if (frame.list) lists.pop();
      if (frame.name === "pre") pre--;
      if (frame.name === "blockquote") quote--;
      if (/^h[1-6]$/.test(frame.name) || frame.name === "th") upper--;
      if (frame.name === "a" && frame.href && !frame.href.startsWith("#")) {
        const href = frame.href.replace(/^mailto:/i, "");
        space = true;
        write(`[${href}]`);
      }
      const after = BLOCKS[frame.name];
      if (after) lineBreaks(after);
    }
  }
  if (!skip && last < source.length) words(source.slice(last));
  return out.join("").replace(/[ \t]+\n/g, "\n").trim();
}
