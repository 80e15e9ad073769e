/**
 * The IMAP FETCH path's CPU without sockets or other processes: a test gateway on a file store
 * (sealed at rest, as served), the IMAP session over the gateway backend as `postern serve`
 * wires it (app.fetch in-process), and a writer that only counts the response's octets. Each
 * command runs N times; the minimum and median CPU of this process are printed. On a machine
 * shared with other work the minimum moves far less than bench/imap.ts's figures, so an A/B of
 * one step on the FETCH path (run before, after, before, after) reads here first.
 *
 * `deno run -A bench/imap_inprocess.ts [messages=3000] [runs=30]`; BENCH_INPROCESS_PROFILE=<port>
 * with `--inspect=127.0.0.1:<port>` profiles the BODY.PEEK[] runs (bench/cpu_profile.ts).
 */
import process from "node:process";
import { GatewayImapBackend } from "../bridge/imap/gateway_backend.ts";
import type { MemoryBackend } from "../bridge/imap/memory_backend.ts";
import { StructureCache } from "../bridge/imap/structure_cache.ts";
import { ImapWire } from "../bridge/imap/testing.ts";
import { ALICE, createTestGateway } from "../test/fixtures/app.ts";
import { bridgeKey } from "../test/fixtures/bridge.ts";
import { attachProfiler, summarize } from "./cpu_profile.ts";
import { fmt } from "./lib.ts";

const MESSAGES = Number(Deno.args[0] ?? 3000);
const RUNS = Number(Deno.args[1] ?? 30);
const COMMANDS = ["FETCH 1:* (ENVELOPE FLAGS)", "FETCH 1:1000 BODY.PEEK[]"];

/** About 2 KB each, as bench/seed.ts writes them; every third one \Seen. */
function message(i: number): Uint8Array {
  return new TextEncoder().encode(
    `From: Ada <ada@example.org>\r\nTo: ${ALICE.address}\r\nSubject: invoice report ${i}\r\n` +
      `Message-ID: <seed-${i}@example.org>\r\nDate: Tue, 08 Dec 2026 01:00:00 GMT\r\n` +
      `Content-Type: text/plain; charset=utf-8\r\n\r\nHello ${i}\r\n` +
      "Lorem ipsum dolor sit amet. ".repeat(60) + "\r\n",
  );
}

const cpuMs = () => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
};

const gw = await createTestGateway();
try {
  const key = await bridgeKey(gw, "imap bridge");
  const backend = new GatewayImapBackend("http://gateway.internal", key, (r) => gw.app.fetch(r));
  const auth = await backend.authenticate(ALICE.address, ALICE.password, "192.0.2.1");
  if (!auth.ok) throw new Error("alice could not log in");
  const inbox = (await auth.account.mailboxes()).find((m) => m.role === "inbox")!;
  for (let at = 0; at < MESSAGES; at += 100) {
    const items = [];
    for (let i = at; i < Math.min(MESSAGES, at + 100); i++) {
      items.push({ raw: message(i), flags: i % 3 ? [] : ["\\Seen"], internalDate: Date.now() });
    }
    await auth.account.appendMany!(inbox.id, items);
  }
  // The session's wire, as in the session tests; its writer counts octets instead of a socket.
  const wire = await ImapWire.open(backend as unknown as MemoryBackend, {
    structureCache: new StructureCache(),
  });
  await wire.send(`a LOGIN ${ALICE.address} ${ALICE.password}\r\n`);
  await wire.send("b SELECT INBOX\r\n");
  let octets = 0;
  wire.session.writer = (data) => {
    for (const d of typeof data === "string" || data instanceof Uint8Array ? [data] : data) {
      octets += typeof d === "string" ? d.length : d.byteLength;
    }
    return Promise.resolve();
  };
  const run = async (command: string) => {
    const reply = await wire.send(`c ${command}\r\n`);
    if (!reply.includes("c OK")) throw new Error(`${command}: ${reply.slice(-200)}`);
  };
  for (const command of COMMANDS) await run(command); // warm-up: structures, caches, JIT

  const port = Deno.env.get("BENCH_INPROCESS_PROFILE");
  if (port) {
    const profiler = await attachProfiler(Number(port), 100);
    await profiler.start();
    for (let r = 0; r < RUNS; r++) await run(COMMANDS[1]);
    for (const line of summarize(await profiler.take())) console.log(line);
    profiler.close();
  }
  console.log(`IMAP FETCH in-process, ${MESSAGES} messages, CPU of ${RUNS} runs each:`);
  for (const command of COMMANDS) {
    const cpu: number[] = [];
    for (let r = 0; r < RUNS; r++) {
      octets = 0;
      const before = cpuMs();
      await run(command);
      cpu.push(cpuMs() - before);
    }
    cpu.sort((a, b) => a - b);
    console.log(
      `${command.padEnd(30)} min ${fmt(cpu[0], 1).padStart(6)} ms   median ` +
        `${fmt(cpu[RUNS >> 1], 1).padStart(6)} ms   (${octets} octets)`,
    );
  }
} finally {
  gw.close();
}
Deno.exit(0);
