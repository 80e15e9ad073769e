/**
 * FETCH attribute parsing (RFC 3501 section 6.4.5 and the `fetch-att` / `section` grammar of
 * section 9): the ALL, FAST and FULL macros, BODY[section]<partial> with nested part numbers,
 * HEADER, HEADER.FIELDS (.NOT), TEXT and MIME, BODY.PEEK, the RFC822 forms, MODSEQ (RFC
 * 7162 section 3.1.4.1), and BINARY[part]<partial>, BINARY.PEEK and BINARY.SIZE (RFC 3516).
 */
import type { FetchItem, Section } from "./command.ts";
import type { Reader } from "./reader.ts";

const SIMPLE = new Set([
  "FLAGS",
  "INTERNALDATE",
  "RFC822.SIZE",
  "ENVELOPE",
  "BODYSTRUCTURE",
  "UID",
  "MODSEQ",
  "RFC822",
  "RFC822.HEADER",
  "RFC822.TEXT",
]);

const MACROS: Record<string, FetchItem["kind"][]> = {
  ALL: ["FLAGS", "INTERNALDATE", "RFC822.SIZE", "ENVELOPE"],
  FAST: ["FLAGS", "INTERNALDATE", "RFC822.SIZE"],
  FULL: ["FLAGS", "INTERNALDATE", "RFC822.SIZE", "ENVELOPE", "BODY"],
};

/** `fetch-att` list, a single attribute, or a macro. */
export function parseFetchItems(r: Reader): FetchItem[] {
  if (r.eat("(")) {
    const items = [fetchAtt(r)];
    while (r.eat(" ")) items.push(fetchAtt(r));
    r.expect(")", "unbalanced parentheses in fetch attributes");
    return items;
  }
  const save = r.word().toUpperCase();
  const macro = MACROS[save];
  if (macro && r.peek() !== "[") return macro.map((kind) => ({ kind } as FetchItem));
  return [fetchAttNamed(r, save)];
}

function fetchAtt(r: Reader): FetchItem {
  return fetchAttNamed(r, r.word().toUpperCase());
}

function fetchAttNamed(r: Reader, name: string): FetchItem {
  if (name === "BODY" || name === "BODY.PEEK") {
    if (r.peek() !== "[") {
      if (name === "BODY.PEEK") r.fail("BODY.PEEK needs a section");
      return { kind: "BODY" };
    }
    r.expect("[");
    const section = parseSection(r);
    r.expect("]", "unterminated section");
    const item: FetchItem = { kind: "BODY[]", peek: name === "BODY.PEEK", section };
    const partial = parsePartial(r);
    if (partial) item.partial = partial;
    return item;
  }
  if (name === "BINARY" || name === "BINARY.PEEK" || name === "BINARY.SIZE") {
    // section-binary = "[" [section-part] "]" (RFC 3516 section 6).
    r.expect("[", `${name} needs a section`);
    const part: number[] = [];
    if (r.peek() !== "]") {
      do part.push(r.nzNumber("bad section part number")); while (r.eat("."));
    }
    r.expect("]", "unterminated section");
    if (name === "BINARY.SIZE") return { kind: "BINARY.SIZE", part };
    const item: FetchItem = { kind: "BINARY[]", peek: name === "BINARY.PEEK", part };
    const partial = parsePartial(r);
    if (partial) item.partial = partial;
    return item;
  }
  if (SIMPLE.has(name)) return { kind: name } as FetchItem;
  if (name === "") r.fail("expected a fetch attribute");
  return r.fail(`unknown fetch attribute ${name}`);
}

/** `<start.length>` after a section, if present. */
function parsePartial(r: Reader): { start: number; length: number } | undefined {
  if (!r.eat("<")) return undefined;
  const start = r.number("bad partial");
  r.expect(".", "bad partial");
  const length = r.nzNumber("bad partial length");
  r.expect(">", "bad partial");
  return { start, length };
}

/** The inside of `[...]`: `1.2.3`, `1.2.HEADER`, `HEADER.FIELDS (A B)`, `TEXT`, `MIME`, … */
export function parseSection(r: Reader): Section {
  const section: Section = { part: [] };
  if (r.peek() === "]") return section;
  for (;;) {
    const c = r.peek();
    if (c !== undefined && c >= "0" && c <= "9") {
      section.part.push(r.nzNumber("bad section part number"));
      if (r.eat(".")) continue;
      return section;
    }
    break;
  }
  const text = r.word().toUpperCase();
  switch (text) {
    case "HEADER":
    case "TEXT":
      section.text = text;
      return section;
    case "MIME":
      // MIME is only for a numbered part (section 6.4.5).
      if (section.part.length === 0) r.fail("MIME needs a part number");
      section.text = "MIME";
      return section;
    case "HEADER.FIELDS":
    case "HEADER.FIELDS.NOT": {
      section.text = text;
      r.sp();
      r.expect("(", "expected a header field list");
      const fields = [r.astring("expected a header field name")];
      while (r.eat(" ")) fields.push(r.astring("expected a header field name"));
      r.expect(")", "unbalanced parentheses in header list");
      section.fields = fields;
      return section;
    }
    default:
      return r.fail(`bad section "${text}"`);
  }
}
