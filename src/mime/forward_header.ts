/**
 * The header block a forwarded message (an inline message/rfc822 part, RFC 2046 section 5.2.1)
 * shows above its text, in the two forms the process host's parser writes it: plain text
 * (`From: "Name" <a@b>`) and an HTML table whose values are escaped as the `he` library escapes
 * them (every non-ASCII character as a hex reference). Pure.
 */
import type { AddressEntry } from "./address_list.ts";

/** he.encode's default: the HTML specials and every non-ASCII character as hex references. */
export const heEncode = (text: string) =>
  text.replace(
    /["&'<>`\x7f]|[^\p{ASCII}]/gu,
    (c) => `&#x${c.codePointAt(0)!.toString(16).toUpperCase()};`,
  );

export function addressesText(list: AddressEntry[]): string {
  return list.map((a) => {
    let s = a.name ? `"${a.name.replace(/["\\]/g, "\\$&")}"${a.group ? ": " : ""}` : "";
    if (a.address) s += a.name ? ` <${a.address}>` : a.address;
    if (a.group) s += addressesText(a.group) + ";";
    return s;
  }).join(", ");
}

export function addressesHtml(list: AddressEntry[]): string {
  return list.map((a) => {
    let s = '<span class="mp_address_group">';
    if (a.name) {
      s += `<span class="mp_address_name">${heEncode(a.name)}${a.group ? ": " : ""}</span>`;
    }
    if (a.address) {
      const link = `<a href="mailto:${heEncode(a.address)}" class="mp_address_email">${
        heEncode(a.address)
      }</a>`;
      s += a.name ? ` &lt;${link}&gt;` : link;
    }
    if (a.group) s += addressesHtml(a.group) + ";";
    return s + "</span>";
  }).join(", ");
}
