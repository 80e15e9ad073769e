/**
 * Punycode (RFC 3492) decoding of IDNA domain labels (`xn--…`, RFC 5891), so that an address at
 * an internationalized domain reads in Unicode, as the process host's parser shows it. A label
 * that does not decode stays as written. Pure; never throws.
 */

// RFC 3492 section 5 parameters.
const BASE = 36, TMIN = 1, TMAX = 26, SKEW = 38, DAMP = 700;

function adapt(delta: number, points: number, first: boolean): number {
  delta = first ? Math.floor(delta / DAMP) : delta >> 1;
  delta += Math.floor(delta / points);
  let k = 0;
  while (delta > ((BASE - TMIN) * TMAX) >> 1) {
    delta = Math.floor(delta / (BASE - TMIN));
    k += BASE;
  }
  return k + Math.floor(((BASE - TMIN + 1) * delta) / (delta + SKEW));
}

/** One Punycode label decoded (RFC 3492 section 6.2); throws on bad input. */
function punycodeLabel(input: string): string {
  const output: number[] = [];
  const basic = input.lastIndexOf("-");
  for (let j = 0; j < Math.max(basic, 0); j++) {
    if (input.charCodeAt(j) >= 0x80) throw new Error("not basic");
    output.push(input.charCodeAt(j));
  }
  let n = 128, i = 0, bias = 72;
  for (let index = basic > 0 ? basic + 1 : 0; index < input.length;) {
    const oldi = i;
    for (let w = 1, k = BASE;; k += BASE) {
      if (index >= input.length) throw new Error("bad input");
      const c = input.charCodeAt(index++);
      const digit = c >= 0x30 && c <= 0x39
        ? c - 22
        : c >= 0x41 && c <= 0x5a
        ? c - 0x41
        : c >= 0x61 && c <= 0x7a
        ? c - 0x61
        : BASE;
      if (digit >= BASE) throw new Error("bad digit");
      i += digit * w;
      const t = k <= bias ? TMIN : k >= bias + TMAX ? TMAX : k - bias;
      if (digit < t) break;
      w *= BASE - t;
      if (w > 0x7fffffff) throw new Error("overflow");
    }
    const points = output.length + 1;
    bias = adapt(i - oldi, points, oldi === 0);
    n += Math.floor(i / points);
    i %= points;
    if (n > 0x10ffff) throw new Error("overflow");
    output.splice(i++, 0, n);
  }
  return String.fromCodePoint(...output);
}

/** A domain with its `xn--` labels in Unicode (kept as written if one does not decode). */
export function domainToUnicode(domain: string): string {
  try {
    return domain.split(".").map((label) =>
      label.startsWith("xn--") ? punycodeLabel(label.slice(4).toLowerCase()) : label
    ).join(".");
  } catch {
    return domain;
  }
}
