/**
 * RFC 5260 (date): the date parts a `date` or `currentdate` test compares (section 4.2), in a
 * given zone (`+hhmm`), and the reading of a header's date with its own zone (`:originalzone`).
 * Pure.
 */

/** Minutes east of UTC from "+hhmm"/"-hhmm"; undefined when malformed. */
export function zoneMinutes(zone: string): number | undefined {
  const m = /^([+-])([0-9]{2})([0-9]{2})$/.exec(zone.trim());
  if (!m) return undefined;
  const minutes = Number(m[2]) * 60 + Number(m[3]);
  return m[1] === "-" ? -minutes : minutes;
}

const zoneText = (minutes: number) => {
  const sign = minutes < 0 ? "-" : "+";
  const a = Math.abs(minutes);
  return `${sign}${p2(Math.floor(a / 60))}${p2(a % 60)}`;
};
const p2 = (n: number) => String(n).padStart(2, "0");

/** A header's date (RFC 5322 section 3.3) with the zone it was written in. */
export function readHeaderDate(value: string): { ms: number; zone: number } | undefined {
  // Comments like "(CEST)" confuse Date.parse; the numeric zone is what counts.
  const clean = value.replace(/\([^)]*\)/g, " ").trim();
  const ms = Date.parse(clean);
  if (Number.isNaN(ms)) return undefined;
  const z = /([+-][0-9]{4})\s*$/.exec(clean);
  return { ms, zone: z ? zoneMinutes(z[1]) ?? 0 : 0 };
}

const DAYS = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];
const MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];

/** Section 4.2: one part of the instant `ms` as seen in `zone` (minutes east of UTC). */
export function datePart(ms: number, zone: number, part: string): string {
  const d = new Date(ms + zone * 60_000);
  const year = String(d.getUTCFullYear()).padStart(4, "0");
  const month = p2(d.getUTCMonth() + 1);
  const day = p2(d.getUTCDate());
  const hour = p2(d.getUTCHours());
  const minute = p2(d.getUTCMinutes());
  const second = p2(d.getUTCSeconds());
  switch (part.toLowerCase()) {
    case "year":
      return year;
    case "month":
      return month;
    case "day":
      return day;
    case "date":
      return `${year}-${month}-${day}`;
    case "julian":
      // Modified Julian Day: days since 1858-11-17 (section 4.2's "julian").
      return String(Math.floor((ms + zone * 60_000) / 86_400_000) + 40587);
    case "hour":
      return hour;
    case "minute":
      return minute;
    case "second":
      return second;
    case "time":
      return `${hour}:${minute}:${second}`;
    case "iso8601": {
      const z = zoneText(zone);
      return `${year}-${month}-${day}T${hour}:${minute}:${second}${z.slice(0, 3)}:${z.slice(3)}`;
    }
    case "std11":
      return `${DAYS[d.getUTCDay()]}, ${Number(day)} ${MONTHS[d.getUTCMonth()]} ${year} ` +
        `${hour}:${minute}:${second} ${zoneText(zone)}`;
    case "zone":
      return zoneText(zone);
    case "weekday":
      return String(d.getUTCDay());
    default:
      return "";
  }
}
