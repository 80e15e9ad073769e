/**
 * format=flowed text (RFC 3676): soft line breaks (a line ending in a space) joined within a
 * paragraph of the same quote depth (section 4.2, 4.5), space-stuffing removed (4.4), DelSp=yes
 * spaces dropped (4.1), the signature separator "-- " left alone (4.3). The rules are libmime's,
 * behind the process host's parser, so both ports unfold alike. Pure; linear.
 */

/** RFC 3676 section 4: soft line breaks joined, space-stuffing removed (libmime's rules). */
export function decodeFlowed(input: string, delSp: boolean): string {
  const lines = input.split(/\r?\n/);
  const result: string[] = [];
  let parts: string[] = [];
  let partsLength = 0;
  let depth = 0;
  let prefix = "";
  const push = (part: string) => {
    if (part) {
      parts.push(part);
      partsLength += part.length;
    }
  };
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i];
    let lineDepth = 0;
    while (line.charCodeAt(lineDepth) === 0x3e) lineDepth++;
    const prefixLength = lineDepth && line.charCodeAt(lineDepth) === 0x20
      ? lineDepth + 1
      : lineDepth;
    const content = line.slice(prefixLength);
    const last = parts.length ? parts[parts.length - 1] : "";
    const soft = lineDepth === depth && last.endsWith(" ") &&
      !(partsLength === 3 && parts.join("") === "-- ");
    if (soft) {
      if (delSp) {
        parts.pop();
        partsLength -= last.length;
        push(last.slice(0, -1));
        push(content);
      } else push(lineDepth ? content : content.replace(/^ /, ""));
    } else {
      if (i > 0) result.push(prefix + parts.join(""));
      parts = [];
      partsLength = 0;
      depth = lineDepth;
      prefix = line.slice(0, prefixLength);
      push(content);
    }
  }
  if (partsLength || prefix) result.push(prefix + parts.join(""));
  return result.join("\n").replace(/^ /gm, "");
}
