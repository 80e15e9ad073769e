/**
 * The spam classifier on a labelled corpus (issue 21 item 1): trained on the committed corpus'
 * training split (SpamAssassin public corpus subset), scored on its held-out split. Asserts a
 * floor for precision and recall of the whole verdict (content rules + Bayes, default
 * thresholds), and that training is what makes the difference. The full figures beside
 * SpamAssassin's: `deno task spam:eval`.
 */
import { assert } from "./fixtures/assert.ts";
import { figures, loadCorpus, parseAll, score, train } from "./fixtures/spam_corpus.ts";

Deno.test("issue21#1: Postern's spam verdict on the held-out corpus has precision ≥ 0.95 and recall ≥ 0.65", async () => {
  const corpus = await loadCorpus();
  const trainSet = corpus.filter((c) => c.split === "train");
  const testSet = corpus.filter((c) => c.split === "test");
  assert(testSet.length >= 250 && trainSet.length >= 500, `${trainSet.length}/${testSet.length}`);
  const trained = train(await parseAll(trainSet), trainSet.map((c) => c.label));
  const held = await parseAll(testSet);
  const labels = testSet.map((c) => c.label);
  const verdicts = held.map((m) => score(m, trained).verdict);
  const f = figures(verdicts.map((v) => v.action !== "deliver"), labels);
  assert(f.precision >= 0.95, `precision ${f.precision} (${JSON.stringify(f)})`);
  assert(f.recall >= 0.65, `recall ${f.recall} (${JSON.stringify(f)})`);
  // Untrained, the content rules alone catch far less: the classifier does the work.
  const empty = train([], []);
  const rulesOnly = figures(held.map((m) => score(m, empty).verdict.action !== "deliver"), labels);
  assert(rulesOnly.recall < f.recall, `rules alone ${rulesOnly.recall} vs ${f.recall}`);
});
