/**
 * The simple JSON forms — ordered rules and vacation settings — compiled to one Sieve script
 * (RFC 5228), the managed script that runs before the user's own active script. Vacation comes
 * first, so that no rule's `stop` silences it; then each enabled rule as an `if` block. Every
 * string is quoted here (backslash and double quote escaped, RFC 5228 section 2.4.2), so no
 * value can leave its string. Pure.
 */
import type { SieveRule, SieveRuleCondition, SieveVacation } from "../../schemas/sieve.ts";

export const quote = (s: string) => `"${s.replace(/[\\"]/g, "\\$&")}"`;

/** The Sieve text, or "" when there is nothing to run. */
export function compileManaged(rules: SieveRule[], vacation: SieveVacation | null): string {
  const require = new Set<string>();
  const body: string[] = [];
  if (vacation?.enabled) body.push(...vacationBlock(vacation, require));
  rules.forEach((rule, i) => {
    if (rule.enabled === false) return;
    body.push(...ruleBlock(rule, i, require));
  });
  if (body.length === 0) return "";
  const head = require.size ? [`require [${[...require].sort().map(quote).join(", ")}];`] : [];
  return [
    "# Managed by Postern from /v1/sieve/rules and /v1/sieve/vacation: edit those, not this.",
    ...head,
    ...body,
  ].join("\n") + "\n";
}

/** Seconds dropped, UTC: the form `currentdate :zone "+0000" "iso8601"` answers. */
function isoUtc(value: string): string {
  return new Date(value).toISOString().slice(0, 19) + "+00:00";
}

function vacationBlock(v: SieveVacation, require: Set<string>): string[] {
  require.add("vacation");
  const args = [`:days ${v.days ?? 7}`];
  if (v.subject) args.push(`:subject ${quote(v.subject)}`);
  if (v.addresses?.length) args.push(`:addresses [${v.addresses.map(quote).join(", ")}]`);
  args.push(`:handle ${quote("postern-vacation")}`);
  const action = `vacation ${args.join(" ")} ${quote(v.body)};`;
  const window: string[] = [];
  if (v.from) {
    window.push(`currentdate :zone "+0000" :value "ge" "iso8601" ${quote(isoUtc(v.from))}`);
  }
  if (v.until) {
    window.push(`currentdate :zone "+0000" :value "lt" "iso8601" ${quote(isoUtc(v.until))}`);
  }
  if (window.length === 0) return [action];
  require.add("date");
  require.add("relational");
  return [`if allof (${window.join(", ")}) {`, `  ${action}`, "}"];
}

function ruleBlock(rule: SieveRule, index: number, require: Set<string>): string[] {
  const tests = rule.conditions.map((c) => condition(c, require));
  // Flags first: they apply to the copies the rule's fileinto and the keep make.
  const actions = [...rule.actions].sort((a, b) =>
    (a.type === "flag" ? 0 : 1) - (b.type === "flag" ? 0 : 1)
  ).map((a) => {
    switch (a.type) {
      case "fileinto":
        require.add("fileinto");
        return `fileinto ${quote(a.mailbox)};`;
      case "flag":
        require.add("imap4flags");
        return `addflag ${quote(a.flag)};`;
      case "redirect":
        if (a.copy) require.add("copy");
        return `redirect ${a.copy ? ":copy " : ""}${quote(a.address)};`;
      case "discard":
        return "discard;";
      case "reject":
        require.add("reject");
        return `reject ${quote(a.reason)};`;
      case "stop":
        return "stop;";
    }
  });
  const label = `# rule ${index + 1}${rule.name ? `: ${rule.name.replace(/[\r\n]+/g, " ")}` : ""}`;
  const test = tests.length === 0
    ? "true"
    : tests.length === 1
    ? tests[0]
    : `${rule.match === "any" ? "anyof" : "allof"} (${tests.join(", ")})`;
  return [label, `if ${test} {`, ...actions.map((a) => `  ${a}`), "}"];
}

function condition(c: SieveRuleCondition, require: Set<string>): string {
  const value = c.value === undefined ? "" : String(c.value);
  const negated = c.op === "not_contains" || c.op === "not_is";
  const match = c.op === "contains" || c.op === "not_contains"
    ? ":contains"
    : c.op === "matches"
    ? ":matches"
    : ":is";
  const wrap = (t: string) => (negated ? `not ${t}` : t);
  switch (c.field) {
    case "from":
      return wrap(`address :all ${match} "from" ${quote(value)}`);
    case "to":
      return wrap(`address :all ${match} ["to", "cc"] ${quote(value)}`);
    case "subject":
      return wrap(`header ${match} "subject" ${quote(value)}`);
    case "header": {
      const name = quote(c.header ?? "x-missing-header-name");
      if (c.op === "exists") return `exists ${name}`;
      return wrap(`header ${match} ${name} ${quote(value)}`);
    }
    case "size":
      return `size ${c.op === "under" ? ":under" : ":over"} ${Number(c.value ?? 0)}`;
    case "spam": {
      // Postern's verdict says it in X-Spam-Status ("Yes, score=…", services/spam_verdict.ts);
      // X-Spam-Flag is SpamAssassin's, kept for mail an upstream filter marked.
      if (c.op !== "over" && c.op !== "under") {
        return `anyof (header :matches "x-spam-status" "yes,*", header :is "x-spam-flag" "yes")`;
      }
      // i;ascii-numeric reads leading digits only: a negative score is below any threshold.
      require.add("relational");
      require.add("comparator-i;ascii-numeric");
      const rel = c.op === "over" ? "ge" : "lt";
      const numeric = `header :value ${quote(rel)} :comparator "i;ascii-numeric" "x-spam-score" ${
        quote(String(Math.floor(Number(c.value ?? 0))))
      }`;
      const negative = `header :matches "x-spam-score" "-*"`;
      return c.op === "over"
        ? `allof (exists "x-spam-score", not ${negative}, ${numeric})`
        : `allof (exists "x-spam-score", anyof (${negative}, ${numeric}))`;
    }
  }
}
