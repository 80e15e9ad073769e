/**
 * A small XML reader for report files that strangers send (DMARC aggregate reports, RFC 7489
 * appendix C), and the escaping for the reports we write. It reads elements, attributes, text,
 * CDATA and comments; it refuses document types outright, so no entity can be declared — no
 * "billion laughs", no external entity fetching — and knows only XML's five predefined entities
 * and character references. Input size, nesting depth and element count are capped. Pure: a
 * result, never an exception, for bad input.
 */

export interface XmlElement {
  name: string;
  attributes: Record<string, string>;
  children: XmlElement[];
  /** The element's own text (CDATA included), concatenated. */
  text: string;
}

export type XmlResult = { ok: true; root: XmlElement } | { ok: false; error: string };

export const XML_LIMITS = { bytes: 8 * 1024 * 1024, depth: 32, elements: 200_000 };

const PREDEFINED: Record<string, string> = {
  lt: "<",
  gt: ">",
  amp: "&",
  quot: '"',
  apos: "'",
};

const NAME = /^[A-Za-z_][A-Za-z0-9_.:-]*/;

function decodeEntities(text: string): string | undefined {
  let bad = false;
  const out = text.replace(/&([^;&\s]{1,10});/g, (_, ref: string) => {
    if (ref[0] === "#") {
      const code = ref[1] === "x" || ref[1] === "X"
        ? parseInt(ref.slice(2), 16)
        : parseInt(ref.slice(1), 10);
      if (!Number.isFinite(code) || code < 1 || code > 0x10ffff) {
        bad = true;
        return "";
      }
      return String.fromCodePoint(code);
    }
    const known = PREDEFINED[ref];
    if (known === undefined) bad = true;
    return known ?? "";
  });
  // A lone "&" is not well-formed XML.
  if (bad || /&(?![^;&\s]{1,10};)/.test(text)) return undefined;
  return out;
}

/** Parses one document; `limits` default to XML_LIMITS. */
export function parseXml(input: string, limits = XML_LIMITS): XmlResult {
  if (input.length > limits.bytes) return { ok: false, error: "the document is too large" };
  const fail = (error: string): XmlResult => ({ ok: false, error });
  const stack: XmlElement[] = [];
  let root: XmlElement | undefined;
  let elements = 0;
  let i = input.charCodeAt(0) === 0xfeff ? 1 : 0;
  while (i < input.length) {
    const lt = input.indexOf("<", i);
    const textEnd = lt < 0 ? input.length : lt;
    if (textEnd > i) {
      const raw = input.slice(i, textEnd);
      if (stack.length === 0) {
        if (raw.trim()) return fail("text outside the root element");
      } else {
        const text = decodeEntities(raw);
        if (text === undefined) return fail("an unknown entity or a bare '&'");
        stack[stack.length - 1].text += text;
      }
    }
    if (lt < 0) break;
    if (input.startsWith("<!--", lt)) {
      const end = input.indexOf("-->", lt + 4);
      if (end < 0) return fail("an unterminated comment");
      i = end + 3;
    } else if (input.startsWith("<![CDATA[", lt)) {
      const end = input.indexOf("]]>", lt + 9);
      if (end < 0 || stack.length === 0) return fail("a misplaced or unterminated CDATA section");
      stack[stack.length - 1].text += input.slice(lt + 9, end);
      i = end + 3;
    } else if (input.startsWith("<!", lt)) {
      // DOCTYPE (and with it every ENTITY declaration) is refused: reports never need one.
      return fail("document type declarations are not accepted");
    } else if (input.startsWith("<?", lt)) {
      const end = input.indexOf("?>", lt + 2);
      if (end < 0) return fail("an unterminated processing instruction");
      i = end + 2;
    } else if (input[lt + 1] === "/") {
      const end = input.indexOf(">", lt + 2);
      const name = end < 0 ? "" : input.slice(lt + 2, end).trim();
      const open = stack.pop();
      if (!open || open.name !== name) return fail(`unexpected </${name.slice(0, 40)}>`);
      i = end + 1;
    } else {
      const m = NAME.exec(input.slice(lt + 1, lt + 1 + 256));
      if (!m) return fail("a malformed tag");
      const element: XmlElement = { name: m[0], attributes: {}, children: [], text: "" };
      let j = lt + 1 + m[0].length;
      for (;;) {
        while (/\s/.test(input[j] ?? "")) j++;
        if (input[j] === ">" || input.startsWith("/>", j)) break;
        const a = NAME.exec(input.slice(j, j + 256));
        if (!a) return fail(`a malformed attribute in <${element.name}>`);
        j += a[0].length;
        while (/\s/.test(input[j] ?? "")) j++;
        if (input[j] !== "=") return fail(`an attribute without a value in <${element.name}>`);
        j++;
        while (/\s/.test(input[j] ?? "")) j++;
        const quote = input[j];
        if (quote !== '"' && quote !== "'") return fail("an unquoted attribute value");
        const close = input.indexOf(quote, j + 1);
        if (close < 0) return fail("an unterminated attribute value");
        const value = decodeEntities(input.slice(j + 1, close));
        if (value === undefined || value.includes("<")) return fail("a malformed attribute value");
        element.attributes[a[0]] = value;
        j = close + 1;
      }
      if (++elements > limits.elements) return fail("too many elements");
      if (stack.length > 0) stack[stack.length - 1].children.push(element);
      else if (root) return fail("a second root element");
      else root = element;
      if (input[j] === ">") {
        if (stack.length >= limits.depth) return fail("elements nested too deep");
        stack.push(element);
        i = j + 1;
      } else i = j + 2;
    }
  }
  if (stack.length > 0) return fail(`<${stack[stack.length - 1].name}> is never closed`);
  return root ? { ok: true, root } : fail("no root element");
}

/** The first child element named `name` (a path of names descends). */
export function child(element: XmlElement | undefined, ...path: string[]): XmlElement | undefined {
  let at = element;
  for (const name of path) at = at?.children.find((c) => c.name === name);
  return at;
}

/** The trimmed text of the element at `path`, or "" when absent. */
export const textOf = (element: XmlElement | undefined, ...path: string[]) =>
  (child(element, ...path)?.text ?? "").trim();

/** Text for XML character data and attribute values. */
export function escapeXml(text: string): string {
  return text.replace(
    /[<>&"']/g,
    (c) =>
      `&${
        ({ "<": "lt", ">": "gt", "&": "amp", '"': "quot", "'": "apos" } as Record<string, string>)[
          c
        ]
      };`,
  );
}
