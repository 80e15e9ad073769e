/**
 * Reads a message's header section (RFC 5322 section 2.2): unfolds continuation lines (section
 * 2.2.3) and returns the fields in order, as sent. Pure and edge-safe; bodies are not decoded.
 */
const MAX_HEADER_BYTES = 256 * 1024;

export function parseHeaderBlock(raw: Uint8Array): { name: string; value: string }[] {
  const text = new TextDecoder("utf-8", { fatal: false }).decode(raw.subarray(0, MAX_HEADER_BYTES));
  const end = text.search(/\r?\n\r?\n/);
  return headerFields(end >= 0 ? text.slice(0, end) : text);
}

/** The fields of a header section's text (no empty line in it), unfolded, in order. */
export function headerFields(block: string): { name: string; value: string }[] {
  const out: { name: string; value: string }[] = [];
  for (const line of block.split(/\r?\n/)) {
    if (/^[ \t]/.test(line) && out.length > 0) {
      out[out.length - 1].value += " " + line.trim();
      continue;
    }
    const colon = line.indexOf(":");
    if (colon <= 0) continue;
    out.push({ name: line.slice(0, colon).trim(), value: line.slice(colon + 1).trim() });
  }
  return out;
}
