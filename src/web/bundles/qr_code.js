// A QR code (ISO/IEC 18004) as an SVG element, for the webmail's two-factor set-up: the
// `otpauth://` URL of the authenticator app drawn so a phone can scan it. The matrix comes from
// @paulmillr/qr's encoder; the drawing is ours, built with createElementNS (never markup from a
// string, so the page's CSP and "text only" rule hold). Bundled by scripts/gen_web_assets.ts into
// the hashed asset qr_code.js, which mail.js imports only when the set-up is opened: the
// encoder stays out of the webmail's first load.
import encodeQR from "@paulmillr/qr";

const SVG = "http://www.w3.org/2000/svg";
// ISO/IEC 18004 §6.3.8 asks for a quiet zone four modules wide on every side; scanners find the
// finder patterns by the light margin around them.
const QUIET_ZONE = 4;

/**
 * The QR code of `text` as an <svg role="img"> named `label`. Dark modules are one <path> (a
 * run of modules per segment, so a version-10 code is a few hundred segments, not thousands of
 * rects) painted black on a white square whatever the colour scheme: a code drawn light on dark
 * is not read by many scanner apps.
 */
export function qrSvg(text, label) {
  // "medium" error correction (15%): room for a smudge or glare on a screen without growing the
  // code past what a phone reads comfortably from a laptop display.
  const rows = encodeQR(text, "raw", { ecc: "medium", border: QUIET_ZONE });
  const size = rows.length;
  let d = "";
  rows.forEach((row, y) => {
    for (let x = 0; x < size; x++) {
      if (!row[x]) continue;
      let end = x;
      while (end + 1 < size && row[end + 1]) end++;
      d += `M${x} ${y}h${end - x + 1}v1h${-(end - x + 1)}z`;
      x = end;
    }
  });
  const svg = document.createElementNS(SVG, "svg");
  svg.setAttribute("viewBox", `0 0 ${size} ${size}`);
  svg.setAttribute("role", "img");
  svg.setAttribute("aria-label", label);
  svg.setAttribute("class", "qr");
  svg.setAttribute("shape-rendering", "crispEdges");
  const title = document.createElementNS(SVG, "title");
  title.textContent = label;
  const paper = document.createElementNS(SVG, "rect");
  paper.setAttribute("width", String(size));
  paper.setAttribute("height", String(size));
  paper.setAttribute("fill", "#fff");
  const ink = document.createElementNS(SVG, "path");
  ink.setAttribute("d", d);
  ink.setAttribute("fill", "#000");
  svg.append(title, paper, ink);
  return svg;
}
