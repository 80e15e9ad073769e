/**
 * Which addresses SHARP/1.3 can carry (twoblade's reference server, `SHARP/main.js`, and
 * /work/shared/SHARP-1.3.md): `user#domain` with a username of 1-20 characters from
 * `A-Z a-z 0-9 _ - ! $ % & ' * / ? = ^ @ .` (so no `+`, `~`, `#`, space or non-ASCII), and
 * no `:port` (a `:` splits the hashcash stamp, whose resource is the address). The reference
 * server lower-cases the username when it parses it but stores and queries the address as typed,
 * so Postern always writes local parts in lower case. Shared by the gateway (refusal at
 * submission) and the bridge (the listener's checks, the outbound sender). Pure: no I/O.
 */

/** Reference server: usernames of 1-20 characters from this set. */
export const SHARP_USERNAME = /^[a-zA-Z0-9_\-!$%&'*/?=^@.]{1,20}$/;
export const SHARP_USERNAME_MAX = 20;

/**
 * Why SHARP/1.3 cannot carry `address` (`local@domain` or `local#domain`), or undefined when it
 * can. The reason names the rule, for a 422 or a bounce.
 */
export function sharpAddressProblem(address: string): string | undefined {
  const at = Math.max(address.lastIndexOf("@"), address.lastIndexOf("#"));
  if (at <= 0) return "it is not an address";
  const local = address.slice(0, at);
  const domain = address.slice(at + 1);
  if (local.length > SHARP_USERNAME_MAX) {
    return `its local part has ${local.length} characters (SHARP/1.3 allows at most ${SHARP_USERNAME_MAX})`;
  }
  const bad = [...new Set([...local].filter((c) => !SHARP_USERNAME.test(c)))];
  if (bad.length > 0) {
    return `its local part contains ${
      bad.map((c) => `'${c}'`).join(", ")
    } (SHARP/1.3 allows only letters, digits and _ - ! $ % & ' * / ? = ^ @ .)`;
  }
  if (!domain || domain.includes(":")) return "its domain cannot be written in SHARP/1.3";
  return undefined;
}

/** `local@domain` → `local#domain` with the local part lower-cased (see the module note). */
export function sharpWireAddress(address: string): string {
  const at = address.lastIndexOf("@");
  if (at < 0) return address.toLowerCase();
  return `${address.slice(0, at).toLowerCase()}#${address.slice(at + 1).toLowerCase()}`;
}
