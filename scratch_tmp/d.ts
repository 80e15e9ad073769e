import { startDovecotSieve } from "../test/fixtures/dovecot_sieve.ts";
import { SieveClient, literal, plain } from "../test/fixtures/managesieve.ts";
const d = await startDovecotSieve({ bytes: 65536, scripts: 32 });
try {
const c = await SieveClient.open(d.port);
const show = (x: unknown) => console.log(JSON.stringify(x));
show(await c.response());
for (const cmd of [
  `AUTHENTICATE "PLAIN" "${plain("alice@legacy.test", "alicepw")}"`,
  "CAPABILITY",
  "LISTSCRIPTS",
  `PUTSCRIPT "tb" ${literal('require "fileinto";\r\nif header :contains "subject" "x" { fileinto "X"; }\r\n')}`,
  `PUTSCRIPT "bad" ${literal('require "fileinto";\r\nfileinto "A"\r\nkeep;\r\n')}`,
  `CHECKSCRIPT ${literal('kep;\r\n')}`,
  `CHECKSCRIPT ${literal('keep;\r\n')}`,
  'SETACTIVE "tb"', "LISTSCRIPTS", 'GETSCRIPT "tb"', 'HAVESPACE "tb" 100', 'HAVESPACE "x" 999999999',
  'RENAMESCRIPT "tb" "r"', 'RENAMESCRIPT "none" "x"', 'PUTSCRIPT "o" "keep;"', 'RENAMESCRIPT "o" "r"', 'DELETESCRIPT "r"', 'SETACTIVE ""', 'DELETESCRIPT "r"',
  'GETSCRIPT "r"', 'SETACTIVE "zz"', 'DELETESCRIPT "zz"', 'NOOP "tag1"', 'NOOP', 'UNAUTHENTICATE', 'LISTSCRIPTS', 'FROB', 'LOGOUT'
]) { console.log("C:", cmd.slice(0, 60)); show(await c.command(cmd).catch((e) => String(e))); }
} finally { console.log((await d.log()).slice(-2000)); await d.stop(); }
