/**
 * What keeping deleted mail recoverable costs a delete (issue 21, item 7): REST purges one
 * message at a time and IMAP EXPUNGEs of 50 messages, on the embedded file, with the recovery
 * window on (the default, 14 days) and off (POSTERN_RECOVERY_DAYS=0), in alternating rounds.
 * Prints the median wall time and process CPU per message of each; asserts nothing.
 *   deno run -A bench/recovery_cost.ts [rounds=3] [messages=200]
 */
import process from "node:process";
import { ALICE, createTestGateway } from "../test/fixtures/app.ts";
import { buildMessage, deliverRaw } from "../test/fixtures/mail.ts";
import { expunge, storeFlags } from "../src/services/mail_access_write.ts";

const rounds = Number(Deno.args[0] ?? 3);
const count = Number(Deno.args[1] ?? 200);

async function run(recoveryDays: number, mode: "rest" | "imap") {
  const gw = await createTestGateway({ recoveryDays });
  try {
    const token = await gw.login(ALICE);
    const ids: number[] = [];
    for (let i = 0; i < count; i++) {
      ids.push(await deliverRaw(gw, buildMessage({ subject: `m${i}`, text: "x".repeat(2000) })));
    }
    const account = Number(
      (await gw.deps.store.client.execute(
        "SELECT id FROM accounts WHERE address = 'alice@postern.test'",
      ))
        .rows[0][0],
    );
    const inbox = Number(
      (await gw.deps.store.client.execute(
        `SELECT id FROM mailboxes WHERE account_id = ${account} AND role = 'inbox'`,
      )).rows[0][0],
    );
    const cpu0 = process.cpuUsage();
    const t0 = performance.now();
    if (mode === "rest") {
      for (const id of ids) {
        const res = await gw.call("DELETE", `/v1/messages/${id}?purge=true`, { token });
        if (res.status !== 200) throw new Error(await res.text());
      }
    } else {
      for (let uid = 1; uid <= count; uid += 50) {
        const set = `${uid}:${Math.min(uid + 49, count)}`;
        await storeFlags(gw.deps, account, inbox, { uids: set, op: "add", flags: ["\\Deleted"] });
        await expunge(gw.deps, account, inbox, set);
      }
    }
    const ms = performance.now() - t0;
    const cpu = process.cpuUsage(cpu0);
    return { ms: ms / count, cpu: (cpu.user + cpu.system) / 1000 / count };
  } finally {
    gw.close();
  }
}

const median = (xs: number[]) => xs.toSorted((a, b) => a - b)[Math.floor(xs.length / 2)];
for (const mode of ["rest", "imap"] as const) {
  const on: { ms: number; cpu: number }[] = [];
  const off: { ms: number; cpu: number }[] = [];
  for (let r = 0; r < rounds; r++) {
    off.push(await run(0, mode));
    on.push(await run(14, mode));
  }
  const fmt = (xs: { ms: number; cpu: number }[]) =>
    `${median(xs.map((x) => x.ms)).toFixed(3)} ms wall, ${
      median(xs.map((x) => x.cpu)).toFixed(3)
    } ms CPU per message (CPU ${xs.map((x) => x.cpu.toFixed(3)).join(", ")})`;
  console.log(
    `${mode === "rest" ? "REST purge, one at a time" : "IMAP STORE \\Deleted + EXPUNGE of 50"}`,
  );
  console.log(`  recovery off: ${fmt(off)}`);
  console.log(`  recovery on:  ${fmt(on)}`);
}
