/**
 * Mailbox names on the wire: IMAP's modified UTF-7 (RFC 3501 section 5.1.3) to and from the
 * Unicode names the gateway stores. Malformed modified UTF-7 is taken literally.
 */

/** Modified UTF-7 → Unicode; the input unchanged when it is not valid modified UTF-7. */
export function decodeMailboxName(name: string): string {
  if (!name.includes("&")) return name;
  let out = "";
  for (let i = 0; i < name.length; i++) {
    const c = name[i];
    if (c !== "&") {
      out += c;
      continue;
    }
    const end = name.indexOf("-", i + 1);
    if (end < 0) return name;
    const b64 = name.slice(i + 1, end);
    i = end;
    if (b64 === "") {
      out += "&";
      continue;
    }
    if (!/^[A-Za-z0-9+,]+$/.test(b64)) return name;
    let bin: string;
    try {
      const std = b64.replace(/,/g, "/");
      bin = atob(std + "===".slice((std.length + 3) % 4));
    } catch {
      return name;
    }
    if (bin.length % 2 !== 0) bin = bin.slice(0, -1);
    for (let k = 0; k < bin.length; k += 2) {
      out += String.fromCharCode((bin.charCodeAt(k) << 8) | bin.charCodeAt(k + 1));
    }
  }
  return out;
}

/** Unicode → modified UTF-7. */
export function encodeMailboxName(name: string): string {
  let out = "";
  let pending = "";
  const flush = () => {
    if (!pending) return;
    let bin = "";
    for (let k = 0; k < pending.length; k++) {
      const code = pending.charCodeAt(k);
      bin += String.fromCharCode(code >> 8, code & 0xff);
    }
    out += "&" + btoa(bin).replace(/=+$/, "").replace(/\//g, ",") + "-";
    pending = "";
  };
  for (const ch of name) {
    const code = ch.codePointAt(0)!;
    if (code >= 0x20 && code <= 0x7e) {
      flush();
      out += ch === "&" ? "&-" : ch;
    } else {
      pending += ch;
    }
  }
  flush();
  return out;
}
