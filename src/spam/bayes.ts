/**
 * The per-account Bayesian classifier's arithmetic: Gary Robinson's token probabilities (with
 * the strength of the prior `s` and its value `x`, "A Statistical Approach to the Spam Problem",
 * 2003) combined by Fisher's chi-square method, as SpamBayes and SpamAssassin's Bayes plugin do.
 * Pure: the counts come from the store (services/spam_bayes.ts).
 */

/** Token counts of one account: in how many learned spam and ham messages a token was seen. */
export interface TokenCounts {
  spam: number;
  ham: number;
}

/** How strongly the prior (x) holds against little evidence: SpamBayes' default. */
const S = 0.45;
const X = 0.5;
/** Tokens nearer 0.5 than this say too little to count (SpamBayes' minimum_prob_strength). */
const MIN_STRENGTH = 0.1;
/** At most this many of the most telling tokens are combined. */
const MAX_DISCRIMINATORS = 150;

/** Robinson's f(w): the token's spam probability, pulled towards X when seen rarely. */
export function tokenProbability(c: TokenCounts, nspam: number, nham: number): number {
  const b = nspam > 0 ? c.spam / nspam : 0;
  const g = nham > 0 ? c.ham / nham : 0;
  if (b + g === 0) return X;
  const p = b / (b + g);
  const n = c.spam + c.ham;
  return (S * X + n * p) / (S + n);
}

/** The chi-square survival function for an even number of degrees of freedom. */
export function chi2Q(x2: number, v: number): number {
  const m = x2 / 2;
  let term = Math.exp(-m);
  let sum = term;
  for (let i = 1; i < v / 2; i++) {
    term *= m / i;
    sum += term;
  }
  return Math.min(sum, 1);
}

/**
 * The message's spam probability in [0, 1] from its tokens' counts (missing tokens are unknown
 * and left out), or undefined when no token says anything.
 */
export function classify(
  tokens: Iterable<string>,
  counts: ReadonlyMap<string, TokenCounts>,
  nspam: number,
  nham: number,
): number | undefined {
  const probs: number[] = [];
  for (const t of tokens) {
    const c = counts.get(t);
    if (!c) continue;
    const f = tokenProbability(c, nspam, nham);
    if (Math.abs(f - 0.5) >= MIN_STRENGTH) probs.push(f);
  }
  if (probs.length === 0) return undefined;
  probs.sort((a, b) => Math.abs(b - 0.5) - Math.abs(a - 0.5));
  const used = probs.slice(0, MAX_DISCRIMINATORS);
  let lnH = 0, lnS = 0;
  for (const f of used) {
    // Clamped so that one token can never decide alone (log of 0).
    const p = Math.min(Math.max(f, 1e-6), 1 - 1e-6);
    lnH += Math.log(p);
    lnS += Math.log(1 - p);
  }
  const n = used.length;
  const spamminess = 1 - chi2Q(-2 * lnS, 2 * n);
  const hamminess = 1 - chi2Q(-2 * lnH, 2 * n);
  return (1 + spamminess - hamminess) / 2;
}

/**
 * SpamAssassin-style rule names for bands of the probability, with the score each adds. Above
 * SpamAssassin's own weights (its BAYES_99 is 3.5) because Postern has far fewer other rules to
 * add up: on the held-out corpus (`deno task spam:eval`) no ham reached 0.4, while a fifth of
 * the spam sat between 0.4 and 0.95.
 */
const BANDS: [number, string, number][] = [
  [0.999, "BAYES_999", 6.0],
  [0.99, "BAYES_99", 5.5],
  [0.95, "BAYES_95", 5.0],
  [0.8, "BAYES_80", 4.0],
  [0.6, "BAYES_60", 3.0],
  [0.4, "BAYES_50", 1.5],
  [0.2, "BAYES_40", 0],
  [0.05, "BAYES_20", -0.5],
  [0.01, "BAYES_05", -1.0],
  [0, "BAYES_00", -2.0],
];

/** The rule a probability falls in. */
export function bayesRule(probability: number): { name: string; score: number } {
  const [, name, score] = BANDS.find(([floor]) => probability >= floor) ?? BANDS[BANDS.length - 1];
  return { name, score };
}
