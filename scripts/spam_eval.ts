/**
 * `deno task spam:eval`: Postern's spam verdict and SpamAssassin side by side on the committed
 * labelled corpus (test/data/spam/corpus.jsonl.gz, SpamAssassin public corpus subset). Postern's
 * classifier is trained on the `train` split and scores the held-out `test` split (content rules
 * + Bayes, default thresholds: Junk at 5). SpamAssassin (`spamassassin -L`, local rules only, no
 * network tests) scores the same held-out messages twice: with its rules alone, and with its
 * Bayes trained by `sa-learn` on the same training split. Prints precision, recall and accuracy
 * of each; asserts nothing.
 */
import type { CorpusItem } from "../test/fixtures/spam_corpus.ts";
import { figures, loadCorpus, parseAll, score, train } from "../test/fixtures/spam_corpus.ts";

const corpus = await loadCorpus();
const trainSet = corpus.filter((c) => c.split === "train");
const testSet = corpus.filter((c) => c.split === "test");
const labels = testSet.map((c) => c.label);

const t0 = performance.now();
const trained = train(await parseAll(trainSet), trainSet.map((c) => c.label));
const held = await parseAll(testSet);
const t1 = performance.now();
const results = held.map((m) => score(m, trained));
const t2 = performance.now();

/** An mbox of the messages (mboxrd: body lines starting with `From ` quoted). */
function mbox(items: CorpusItem[]): string {
  // Each message numbered in a field of its own: SpamAssassin's --mbox output comes in another
  // order than its input.
  return items.map((c, i) =>
    `From corpus@example Thu Jan  1 00:00:00 2002\nX-Corpus-Index: ${i}\n${
      c.raw.replace(/\r\n/g, "\n").replace(/^(>*From )/gm, ">$1").replace(/\n*$/, "\n")
    }\n`
  ).join("");
}

async function run(cmd: string, args: string[], input: string): Promise<string> {
  const child = new Deno.Command(cmd, { args, stdin: "piped", stdout: "piped", stderr: "piped" })
    .spawn();
  const writer = child.stdin.getWriter();
  await writer.write(new TextEncoder().encode(input));
  await writer.close();
  const out = await child.output();
  if (!out.success) throw new Error(`${cmd} failed: ${new TextDecoder().decode(out.stderr)}`);
  return new TextDecoder().decode(out.stdout);
}

/** SpamAssassin's Yes/No per held-out message, with `prefs` as the user preferences file. */
async function spamassassin(prefs: string): Promise<boolean[]> {
  const out = await run("spamassassin", ["-L", "-x", "-p", prefs, "--mbox"], mbox(testSet));
  const verdicts: (boolean | undefined)[] = testSet.map(() => undefined);
  for (const block of out.split(/^From corpus@example .*$/m)) {
    const head = block.split(/\n\n/)[0];
    const index = /^X-Corpus-Index: (\d+)$/m.exec(head)?.[1];
    const status = /^X-Spam-Status: (Yes|No)/m.exec(head)?.[1];
    if (index !== undefined && status) verdicts[Number(index)] = status === "Yes";
  }
  const missing = verdicts.filter((v) => v === undefined).length;
  if (missing) throw new Error(`SpamAssassin gave no verdict for ${missing} messages`);
  return verdicts as boolean[];
}

const dir = await Deno.makeTempDir({ prefix: "postern-sa-" });
let saRules: boolean[] | undefined, saBayes: boolean[] | undefined, saMs = 0;
try {
  const rulesPrefs = `${dir}/rules.cf`;
  await Deno.writeTextFile(rulesPrefs, "use_bayes 0\nuse_auto_whitelist 0\nreport_safe 0\n");
  const s0 = performance.now();
  saRules = await spamassassin(rulesPrefs);
  saMs = performance.now() - s0;
  const bayesPrefs = `${dir}/bayes.cf`;
  await Deno.writeTextFile(
    bayesPrefs,
    `use_bayes 1\nbayes_auto_learn 0\nuse_auto_whitelist 0\nreport_safe 0\n` +
      `bayes_path ${dir}/bayes\n`,
  );
  for (const label of ["spam", "ham"] as const) {
    await run(
      "sa-learn",
      ["-p", bayesPrefs, `--${label}`, "--mbox", "-"],
      mbox(
        trainSet.filter((c) => c.label === label),
      ),
    );
  }
  saBayes = await spamassassin(bayesPrefs);
} catch (e) {
  console.log(`SpamAssassin not run: ${(e as Error).message.slice(0, 300)}`);
} finally {
  await Deno.remove(dir, { recursive: true });
}

const pct = (n: number) => `${(n * 100).toFixed(1)}%`;
const row = (name: string, predicted: boolean[]) => {
  const f = figures(predicted, labels);
  console.log(
    `| ${name.padEnd(44)} | ${pct(f.precision).padStart(9)} | ${pct(f.recall).padStart(6)} | ${
      pct(f.accuracy).padStart(8)
    } | ${String(f.fp).padStart(3)} | ${String(f.fn).padStart(3)} |`,
  );
};
console.log(
  `corpus: ${trainSet.length} training (${
    trainSet.filter((c) => c.label === "spam").length
  } spam), ${testSet.length} held out (${labels.filter((l) => l === "spam").length} spam)`,
);
console.log(
  `| ${"scorer (held-out split)".padEnd(44)} | precision | recall | accuracy |  FP |  FN |`,
);
console.log(`|${"-".repeat(46)}|-----------|--------|----------|-----|-----|`);
row(
  "Postern verdict (rules + Bayes, score ≥ 5)",
  results.map((r) => r.verdict.action !== "deliver"),
);
row("Postern Bayes alone (p ≥ 0.9)", results.map((r) => (r.probability ?? 0) >= 0.9));
row(
  "Postern content rules alone (untrained)",
  held.map((m) => score(m, train([], [])).verdict.spam),
);
if (saRules) row("SpamAssassin -L, rules only", saRules);
if (saBayes) row("SpamAssassin -L, Bayes trained on same split", saBayes);
console.log(
  `Postern: parse+train ${(t1 - t0).toFixed(0)} ms, scoring ${
    ((t2 - t1) / held.length).toFixed(3)
  } ms/message; SpamAssassin (rules only): ${(saMs / testSet.length).toFixed(1)} ms/message`,
);
