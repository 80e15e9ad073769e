/**
 * The command table: every command's name, help text and options, with its implementation loaded
 * only when it runs (so `--help` and usage errors answer without loading the gateway).
 */
import { type Command, type Group, type Invocation, JSON_OPTION, type OptionSpec } from "./args.ts";
import { SERVE_V8_FLAGS } from "./deploy/serve_flags.ts";

type Runner = (inv: Invocation) => Promise<number | void>;

/** A `run` that imports its module on first use and calls the named export. */
function lazy<M>(load: () => Promise<M>, name: keyof M): Runner {
  return async (inv) => await ((await load())[name] as Runner)(inv);
}

export const DEFAULT_DOMAIN = "postern.localhost";

const passwordOptions: Record<string, OptionSpec> = {
  password: {
    type: "string",
    arg: "PASSWORD",
    help: "The password (visible to other local users in the process list: prefer stdin)",
  },
  "password-stdin": { type: "boolean", help: "Read the password from standard input" },
};

const listenOptions = {
  host: {
    type: "string",
    arg: "HOST",
    help: "Address to bind (overrides POSTERN_HTTP_HOST; default 127.0.0.1)",
  },
  port: {
    type: "string",
    arg: "PORT",
    help: "HTTP port (overrides POSTERN_HTTP_PORT; default 8080; 0 picks a free one)",
  },
} as const;

const initCommand: Command = {
  name: "init",
  summary: "Prepare the data folder: master key, database, first domain and admin account",
  details: [
    "Non-interactive. The admin password comes from $POSTERN_ADMIN_PASSWORD; otherwise one is " +
    "generated, printed once and saved in <dataDir>/admin.password (mode 0600). The master key " +
    "comes from $POSTERN_MASTER_KEY; otherwise <dataDir>/master.key is created (mode 0600). " +
    "Running init again never overwrites an existing admin account unless " +
    "--reset-admin-password is given.",
    "Idempotent: on a store already initialised with this domain and admin, whose secrets the " +
    'master key opens, it prints "already initialised, nothing changed" and exits 0, so ' +
    "setup scripts can run it every time. A real conflict exits 3 and writes nothing (no " +
    "master key, certificate or row): another master key (or none) for an existing store, " +
    "another admin account, or the address taken by a non-admin account. Every node sharing a " +
    "store uses the same master key: set POSTERN_MASTER_KEY on each further node to the first " +
    "node's key (the contents of its <dataDir>/master.key) and start it without init.",
    "Exit codes: 0 initialised or already initialised, 2 bad usage or configuration, 3 the " +
    "store conflicts with the request, 1 anything else failed.",
  ],
  options: {
    domain: {
      type: "string",
      arg: "DOMAIN",
      help: `First local domain (default $POSTERN_DOMAIN, else ${DEFAULT_DOMAIN})`,
    },
    admin: {
      type: "string",
      arg: "ADDRESS",
      help: "Admin account (default $POSTERN_ADMIN_ADDRESS, else admin@<domain>)",
    },
    "reset-admin-password": {
      type: "boolean",
      help: "If the admin account exists, give it a new password instead of failing",
    },
    ...JSON_OPTION,
  },
  run: lazy(() => import("./cmd_init.ts"), "initCommand"),
};

const serveCommand: Command = {
  name: "serve",
  summary: "Run the whole server in one process: HTTP gateway, workers and the protocol bridge",
  details: [
    "Opens the database (applying pending migrations), serves the HTTP API (and HTTPS with " +
    "POSTERN_HTTPS_PORT), runs the federation and webhook workers and the bridge in-process — " +
    "SMTP MX and submission, IMAP, POP3, ManageSieve (Sieve filter editing), SHARP/1.3 and " +
    "outbound delivery — and stops gracefully " +
    "on SIGINT/SIGTERM. Logs are JSON lines on stderr; a short banner goes to stdout.",
    "Dev profile ports (127.0.0.1): HTTP 8080, SMTP 2525, submission 2587, IMAP 1143, POP3 " +
    "1110, ManageSieve 4190, SHARP/1.3 5000; each is a POSTERN_*_PORT setting, 0 turns a " +
    "listener off.",
    "With --init-if-needed, a data folder without an admin account is first initialised like " +
    "`postern init` (domain $POSTERN_DOMAIN or postern.localhost, admin $POSTERN_ADMIN_ADDRESS " +
    "or admin@<domain>).",
    "On Deno, `deno task start` runs it from a one-file bundle it builds first " +
    "(scripts/build_serve.ts: about 25 MB less resident memory than the sources), with " +
    `${SERVE_V8_FLAGS} and ` +
    "MALLOC_MMAP_THRESHOLD_=1048576: the heap keeps its size while mail keeps coming, and " +
    "once the server has been idle for a few seconds it gives back what a burst grew (one " +
    "compacting collection, idle worker threads stopped, malloc arenas trimmed; " +
    "deploy/README.md).",
  ],
  options: {
    "init-if-needed": {
      type: "boolean",
      help: "Initialise the data folder first when it has no admin account",
    },
    ...listenOptions,
  },
  run: lazy(() => import("./cmd_serve.ts"), "serveCommand"),
};

const gatewayCommand: Command = {
  name: "gateway",
  summary: "Run the HTTP gateway alone, with its workers (no SMTP/IMAP/POP3/SHARP bridge)",
  details: [
    "The HTTP side only, as deployed at the edge or beside separate bridge processes. Works on " +
    "Deno (`deno run -A main.ts gateway`) and Bun (`bun main.ts gateway`). Needs an initialised " +
    "store and a master key ($POSTERN_MASTER_KEY or <dataDir>/master.key).",
  ],
  options: { ...listenOptions },
  run: lazy(() => import("./cmd_serve.ts"), "gatewayCommand"),
};

const bridgeCommand: Command = {
  name: "bridge",
  summary: "Run the protocol bridge alone (SMTP, IMAP, POP3, ManageSieve, SHARP/1.3, outbound) " +
    "against a gateway",
  details: [
    "For bridges on VMs (port 25) beside a gateway elsewhere. Never opens the database: every " +
    "check and every message goes through the gateway's HTTP API with an API key that has the " +
    "`bridge` scope (create one with `postern apikey create <admin> --scope bridge`).",
    "Ports, TLS files and limits come from the POSTERN_SMTP_*, POSTERN_SUBMISSION*_PORT, " +
    "POSTERN_IMAP*, POSTERN_POP3*, POSTERN_MANAGESIEVE_*, POSTERN_SHARP_* and POSTERN_TLS_* " +
    "settings.",
    "It also delivers queued outbound mail to remote MX servers (DKIM-signed, STARTTLS, " +
    "MTA-STS): see the POSTERN_OUTBOUND_* and POSTERN_DNS_SERVERS settings.",
  ],
  options: {
    gateway: {
      type: "string",
      arg: "URL",
      help: "The gateway's base URL (or POSTERN_BRIDGE_GATEWAY_URL)",
    },
  },
  run: lazy(() => import("./cmd_serve.ts"), "bridgeCommand"),
};

const accountAdd: Command = {
  name: "account add",
  summary: "Create an account (with its default mailboxes) in an existing local domain",
  args: "<address>",
  arity: [1, 1],
  details: ["Without --password or --password-stdin a password is generated and printed once."],
  options: {
    ...passwordOptions,
    name: { type: "string", arg: "NAME", help: "Display name" },
    admin: { type: "boolean", help: "Make it an admin account" },
    "admin-of": {
      type: "string",
      arg: "DOMAIN",
      multiple: true,
      help: "Make it an administrator of this local domain",
    },
    quota: {
      type: "string",
      arg: "BYTES",
      help: "Quota in bytes, 0 for unlimited (default POSTERN_DEFAULT_QUOTA_BYTES)",
    },
    ...JSON_OPTION,
  },
  run: lazy(() => import("./cmd_accounts.ts"), "accountAdd"),
};

const accountList: Command = {
  name: "account list",
  summary: "List accounts",
  options: {
    domain: { type: "string", arg: "DOMAIN", help: "Only accounts of this domain" },
    ...JSON_OPTION,
  },
  run: lazy(() => import("./cmd_accounts.ts"), "accountList"),
};

const accountRole: Command = {
  name: "account role",
  summary: "Show or change an account's role and the domains it administers",
  args: "<address>",
  arity: [1, 1],
  details: [
    "An administrator manages the whole server. A domain administrator (--admin-of) manages the " +
    "shared settings of its domains only: the suppression list and the sending settings " +
    "(tracking, VERP); its API keys may send from those domains and, with the admin scope, " +
    "manage them. Plain users send, but cannot change what their whole domain shares. " +
    "--admin-of replaces the whole set of domains; without options the command shows the role.",
  ],
  options: {
    admin: { type: "boolean", help: "Make it an administrator of the server" },
    user: { type: "boolean", help: "Make it a plain user (its domain roles stay)" },
    "admin-of": {
      type: "string",
      arg: "DOMAIN",
      multiple: true,
      help: "A local domain it administers (replaces the current set)",
    },
    "clear-admin-of": { type: "boolean", help: "It administers no domain any more" },
    ...JSON_OPTION,
  },
  run: lazy(() => import("./cmd_accounts.ts"), "accountRole"),
};

const accountPasswd: Command = {
  name: "account passwd",
  summary: "Set an account's password (ends all of its sessions)",
  args: "<address>",
  arity: [1, 1],
  details: ["Without --password or --password-stdin a password is generated and printed once."],
  options: { ...passwordOptions },
  run: lazy(() => import("./cmd_accounts.ts"), "accountPasswd"),
};

const accountDelete: Command = {
  name: "account delete",
  summary: "Delete an account and everything it owns (messages, mailboxes, keys, sessions)",
  args: "<address>",
  arity: [1, 1],
  run: lazy(() => import("./cmd_accounts.ts"), "accountDelete"),
};

const domainAdd: Command = {
  name: "domain add",
  summary: "Add a local domain (mail for it is delivered here) with its DKIM and federation keys",
  args: "<domain>",
  arity: [1, 1],
  details: [
    "Generates the domain's DKIM keys (RSA-2048 and Ed25519) and its federation signing key " +
    "(Ed25519, published at /.well-known/sharp/jwks), sealed with the master key. " +
    "`postern domain dns <domain>` prints the records to publish.",
  ],
  options: { ...JSON_OPTION },
  run: lazy(() => import("./cmd_accounts.ts"), "domainAdd"),
};

const domainDns: Command = {
  name: "domain dns",
  summary: "Print the DNS records to publish for a local domain",
  args: "<domain>",
  arity: [1, 1],
  details: [
    "MX and SPF naming this server (POSTERN_HOSTNAME), both DKIM public keys (rsa-sha256 and " +
    "ed25519-sha256), DMARC, MTA-STS (the TXT record, the mta-sts host and the policy file to " +
    "serve over HTTPS) and TLS-RPT; then the client discovery records: RFC 6186/8314 SRV " +
    'records for IMAP, submission and POP3 from the configured ports (target "." for a ' +
    "listener that is off), the autoconfig host and _autodiscover._tcp SRV (the gateway named " +
    "by POSTERN_PUBLIC_URL), and SHARP's _sharp._tcp SRV and _sharp TXT delegation; as " +
    "zone-file lines. DKIM keys missing for the domain are generated first.",
  ],
  options: { ...JSON_OPTION },
  run: lazy(() => import("./cmd_accounts.ts"), "domainDns"),
};

const domainCheck: Command = {
  name: "domain check",
  summary: "Look up a domain's mail records live and say what is missing or wrong",
  args: "<domain>",
  arity: [1, 1],
  details: [
    "Queries DNS through POSTERN_DNS_SERVERS (or the system's resolver) for every record " +
    "`postern domain dns` prints. MX, SPF and both DKIM keys are required (exit 1 when any is " +
    "missing or different); DMARC, MTA-STS, TLS-RPT, the SRV, autoconfig and SHARP records " +
    "are advised (warnings). SRV records pass when port and target match. The same check " +
    "(src/services/domain_check.ts) answers `GET /v1/domains/{domain}` and the admin console; " +
    "--json adds `warnings`, one sentence per record not in place saying what breaks without it.",
  ],
  options: { ...JSON_OPTION },
  run: lazy(() => import("./cmd_accounts.ts"), "domainCheck"),
};

const domainList: Command = {
  name: "domain list",
  summary: "List local domains",
  options: { ...JSON_OPTION },
  run: lazy(() => import("./cmd_accounts.ts"), "domainList"),
};

const apikeyCreate: Command = {
  name: "apikey create",
  summary: "Create an API key for an account; the key is printed once",
  args: "<address>",
  arity: [1, 1],
  details: [
    "Scopes: read, send, admin, bridge, metrics (bridge and metrics only for admin accounts; " +
    "metrics reads GET /metrics; admin for admin " +
    "accounts and domain administrators, whose admin keys manage only their domains' " +
    "settings). --domain lets the key send as any address of that local domain (admins, and " +
    "domain administrators for their domains); without it, the account's own addresses.",
  ],
  options: {
    name: { type: "string", arg: "NAME", help: "A name to tell keys apart (required)" },
    scope: {
      type: "string",
      arg: "SCOPE",
      multiple: true,
      help: "read, send, admin, bridge or metrics; comma lists work (default send)",
    },
    domain: {
      type: "string",
      arg: "DOMAIN",
      multiple: true,
      help: "Local domain it may send from",
    },
    test: {
      type: "boolean",
      help: "A test key (pst_test_…): its sends are validated and recorded, never delivered",
    },
    ...JSON_OPTION,
  },
  run: lazy(() => import("./cmd_apikey.ts"), "apikeyCreate"),
};

const apikeyList: Command = {
  name: "apikey list",
  summary: "List an account's API keys (revoked ones too)",
  args: "<address>",
  arity: [1, 1],
  options: { ...JSON_OPTION },
  run: lazy(() => import("./cmd_apikey.ts"), "apikeyList"),
};

const apikeyRevoke: Command = {
  name: "apikey revoke",
  summary: "Revoke one of an account's API keys (it stops working at once)",
  args: "<address> <id>",
  arity: [2, 2],
  run: lazy(() => import("./cmd_apikey.ts"), "apikeyRevoke"),
};

const migrateCommand: Command = {
  name: "migrate",
  summary: "Apply pending database migrations (serve and init also apply them at start)",
  details: [
    "Migrations are generated by drizzle-kit (`deno task db:generate`), bundled into " +
    "src/store/migrations/index.ts and are forward-only. An applied migration whose SQL has " +
    "changed since is reported as an error.",
  ],
  options: {
    "dry-run": { type: "boolean", help: "List pending migrations without applying them" },
    ...JSON_OPTION,
  },
  run: lazy(() => import("./cmd_migrate.ts"), "migrateCommand"),
};

const sendCommand: Command = {
  name: "send",
  summary: "Send a message through the API (POST /v1/emails)",
  details: [
    "Talks to a running server (--url, else $POSTERN_URL, else POSTERN_PUBLIC_URL or " +
    "http://<httpHost>:<httpPort>) with an API key ($POSTERN_API_KEY or --api-key) or by " +
    "signing in as --from with $POSTERN_PASSWORD or --password-stdin. With --local it runs " +
    "the API in this process on the configured store, acting as --from (operator access: no " +
    "password needed). Prints the API's JSON answer; standard error names the URL it talks to " +
    "and the setting that chose it. On 401 or 404 it also says which server answered there " +
    "(Postern and its version, or another server's Server header) and how to point send " +
    "elsewhere.",
    "Example: postern send --local --from admin@postern.localhost " +
    "--to admin@postern.localhost --subject hi --text 'hello'",
  ],
  options: {
    from: { type: "string", arg: "ADDRESS", help: "Sender (an account you may send as)" },
    to: { type: "string", arg: "ADDRESS", multiple: true, help: "Recipient" },
    cc: { type: "string", arg: "ADDRESS", multiple: true, help: "Cc recipient" },
    bcc: { type: "string", arg: "ADDRESS", multiple: true, help: "Bcc recipient" },
    subject: { type: "string", arg: "TEXT", help: "Subject" },
    text: { type: "string", arg: "TEXT", help: "Plain-text body (`-` reads standard input)" },
    html: { type: "string", arg: "HTML", help: "HTML body" },
    local: { type: "boolean", help: "Run the API in-process on the configured store" },
    url: { type: "string", arg: "URL", help: "Base URL of a running server" },
    "api-key": { type: "string", arg: "KEY", help: "API key with the send scope" },
    "password-stdin": { type: "boolean", help: "Read the --from account's password from stdin" },
  },
  run: lazy(() => import("./cmd_send.ts"), "sendCommand"),
};

const configExample: Command = {
  name: "config example",
  summary: "Print an example environment file listing every setting (as in deploy/env.example)",
  run: lazy(() => import("./cmd_config.ts"), "configExample"),
};

const configCheck: Command = {
  name: "config check",
  summary: "Validate the configuration (environment and config file); print every problem",
  details: [
    "Exits 0 and prints the effective settings (secrets hidden), or exits 2 listing every " +
    "problem: the variable, the value given (secrets as their length only) and what it accepts.",
    "Unknown POSTERN_* environment variables (a misspelt setting is otherwise ignored) are " +
    "reported as warnings with the closest known name, not errors: other tools may use the " +
    "same prefix. Every other command prints the same warnings on standard error at start.",
  ],
  options: { ...JSON_OPTION },
  run: lazy(() => import("./cmd_config.ts"), "configCheck"),
};

export const accountGroup: Group = {
  name: "account",
  summary: "Manage accounts (mail users)",
  subcommands: [accountAdd, accountList, accountRole, accountPasswd, accountDelete],
};

const domainKeys: Command = {
  name: "domain keys",
  summary: "List or rotate a local domain's federation signing keys (Ed25519, JWKS)",
  args: "<list|rotate> <domain>",
  arity: [2, 2],
  details: [
    "rotate makes a new signing key at once; the previous key stays in the JWKS (and is " +
    "accepted) for the overlap window, then disappears from it.",
  ],
  options: {
    overlap: {
      type: "string",
      arg: "HOURS",
      help: "Overlap window for the retired key (default POSTERN_FEDERATION_KEY_OVERLAP_HOURS)",
    },
    ...JSON_OPTION,
  },
  run: lazy(() => import("./cmd_keys.ts"), "domainKeys"),
};

export const domainGroup: Group = {
  name: "domain",
  summary: "Manage local domains",
  subcommands: [domainAdd, domainList, domainDns, domainCheck, domainKeys],
};

const reencryptOptions: Record<string, OptionSpec> = {
  limit: { type: "string", arg: "N", help: "Blobs and messages per slice (default 500)" },
  once: { type: "boolean", help: "Run one slice only (then run it again to go on)" },
};

const keysRotateData: Command = {
  name: "keys rotate-data",
  summary:
    "Rotate the at-rest encryption keys: new KEK version, data keys re-wrapped, new data keys",
  details: [
    "Makes a new key-encryption key version (derived from the master key with a fresh salt), " +
    "re-wraps every account's data key under it, retires each account's data key and makes a " +
    "new one that new mail is sealed under. Mail sealed under a retired key stays readable; " +
    "--reencrypt re-seals it (and any plaintext left from before encryption) in slices of " +
    '--limit, as `postern keys reencrypt` does. README: "Encryption at rest".',
  ],
  options: {
    reencrypt: { type: "boolean", help: "Re-seal bodies under the new data keys afterwards" },
    ...reencryptOptions,
    ...JSON_OPTION,
  },
  run: lazy(() => import("./cmd_crypt.ts"), "keysRotateData"),
};

const keysReencrypt: Command = {
  name: "keys reencrypt",
  summary: "Seal what is still stored in clear or under a retired data key, in bounded slices",
  details: [
    "Blobs (raw messages, attachments, drafts), the parsed form and preview of each message, " +
    "and its search-index body: each rewritten under its account's current data key when it " +
    "is plaintext (stored before encryption at rest, or with it off) or sealed under a retired " +
    "key; the spam filter's plaintext tokens are replaced by keyed hashes, their counts kept " +
    "(a trained filter stays trained). Safe to run while the server runs, and again after an " +
    "interruption.",
  ],
  options: {
    ...reencryptOptions,
    vacuum: {
      type: "boolean",
      help:
        "Once done, rewrite the embedded database file (VACUUM) so freed pages keep no plaintext",
    },
    ...JSON_OPTION,
  },
  run: lazy(() => import("./cmd_crypt.ts"), "keysReencrypt"),
};

export const keysGroup: Group = {
  name: "keys",
  summary: "Encryption at rest: rotate the data keys, seal old mail",
  subcommands: [keysRotateData, keysReencrypt],
};

export const apikeyGroup: Group = {
  name: "apikey",
  summary: "Manage API keys for applications",
  subcommands: [apikeyCreate, apikeyRevoke, apikeyList],
};

/** How `postern queue` reaches the API: the options every queue command shares. */
const API_OPTIONS: Record<string, OptionSpec> = {
  local: { type: "boolean", help: "Run the API in-process on the configured store" },
  as: {
    type: "string",
    arg: "ADDRESS",
    help: "Account to act as (--local: default the first admin; else the one to sign in as)",
  },
  url: { type: "string", arg: "URL", help: "Base URL of a running server" },
  "api-key": { type: "string", arg: "KEY", help: "API key with the admin scope" },
  "password-stdin": { type: "boolean", help: "Read the --as account's password from stdin" },
  ...JSON_OPTION,
};

const QUEUE_ACCESS = "Uses the HTTP API (/v1/queue): a running server (--url, else " +
  "$POSTERN_URL, else POSTERN_PUBLIC_URL or http://<httpHost>:<httpPort>) with an admin's API " +
  "key ($POSTERN_API_KEY or --api-key) or signing in as --as with $POSTERN_PASSWORD or " +
  "--password-stdin; or --local, in-process on the configured store as --as. A domain " +
  "administrator sees the mail of its domains' accounts only. Exit codes: 2 bad usage, 3 the " +
  "entry cannot be retried or cancelled in its state, 1 any other failure.";

const queueList: Command = {
  name: "queue list",
  summary: "List outbound queue entries (one per remote recipient), newest first",
  details: [QUEUE_ACCESS],
  options: {
    state: {
      type: "string",
      arg: "STATE",
      help: "queued, sending, sent, deferred, bounced, failed or cancelled",
    },
    recipient: { type: "string", arg: "ADDRESS", help: "Only this recipient" },
    domain: { type: "string", arg: "DOMAIN", help: "Only this recipient domain" },
    limit: { type: "string", arg: "N", help: "Entries per page (1-500, default 50)" },
    cursor: { type: "string", arg: "CURSOR", help: "The next page (printed after a full page)" },
    ...API_OPTIONS,
  },
  run: lazy(() => import("./cmd_queue.ts"), "queueList"),
};

const queueRetry: Command = {
  name: "queue retry",
  summary: "Make a queued or deferred entry due now",
  args: "<id>",
  arity: [1, 1],
  details: [QUEUE_ACCESS],
  options: API_OPTIONS,
  run: lazy(() => import("./cmd_queue.ts"), "queueRetry"),
};

const queueCancel: Command = {
  name: "queue cancel",
  summary: "Withdraw a queued or deferred entry for good",
  args: "<id>",
  arity: [1, 1],
  details: [QUEUE_ACCESS],
  options: API_OPTIONS,
  run: lazy(() => import("./cmd_queue.ts"), "queueCancel"),
};

export const queueGroup: Group = {
  name: "queue",
  summary: "Inspect the outbound queue: list, retry now, cancel",
  subcommands: [queueList, queueRetry, queueCancel],
};

const REPORTS_ACCESS = "Reports other mail servers sent to the rua addresses Postern publishes " +
  "for its domains (postmaster@<domain>), parsed. Uses the HTTP API (/v1/admin/reports) the way " +
  "`postern queue` does: --url/--api-key, --as with a password, or --local. A domain " +
  "administrator sees its own domains only.";

const reportOptions: Record<string, OptionSpec> = {
  domain: { type: "string", arg: "DOMAIN", help: "Only this domain's reports" },
  since: { type: "string", arg: "DATE", help: "Only reports whose interval ends after DATE" },
  limit: { type: "string", arg: "N", help: "At most N reports (1-500, default 50)" },
  rows: { type: "boolean", help: "Also print each report's rows (sources, policies)" },
  ...API_OPTIONS,
};

const reportsDmarc: Command = {
  name: "reports dmarc",
  summary: "DMARC aggregate reports received about your domains (RFC 7489)",
  details: [REPORTS_ACCESS],
  options: reportOptions,
  run: lazy(() => import("./cmd_reports.ts"), "reportsDmarc"),
};

const reportsTls: Command = {
  name: "reports tls",
  summary: "SMTP TLS reports received about your domains (RFC 8460)",
  details: [REPORTS_ACCESS],
  options: reportOptions,
  run: lazy(() => import("./cmd_reports.ts"), "reportsTls"),
};

export const reportsGroup: Group = {
  name: "reports",
  summary: "Read DMARC and TLS reports received for your domains",
  subcommands: [reportsDmarc, reportsTls],
};

export const configGroup: Group = {
  name: "config",
  summary: "Show and check configuration",
  subcommands: [configExample, configCheck],
};

const importCommand: Command = {
  name: "import",
  summary: "Move mail in: from a legacy IMAP server, mbox files or a Maildir",
  args: "<imap://USER@HOST[:PORT] | mbox FILE|DIR | maildir DIR>",
  arity: [1, 2],
  details: [
    "imap://USER@HOST[:PORT] copies every folder of an IMAP account (imaps:// or --tls for " +
    "implicit TLS on 993; STARTTLS is required by default; --insecure allows plaintext) into " +
    "--account (default: USER when it is an address). Special-use folders (\\Sent, \\Drafts, " +
    "\\Trash, \\Junk, \\Archive) go to the account's own; others are created with their " +
    "hierarchy. Flags and internal dates are kept and the bytes are stored exactly. The source " +
    "password comes from $POSTERN_IMPORT_PASSWORD or --password-stdin, never the command line. " +
    "A source with a self-signed or private-CA certificate: --ca-file PEM trusts the CA (or the " +
    "self-signed certificate itself) in that file, besides the system's roots; " +
    "--insecure-skip-verify accepts any certificate and warns loudly, as anyone on the path " +
    "can then read the password and the mail.",
    "Resumable: progress per folder (UIDVALIDITY, last UID) is kept in <dataDir>/import/, and a " +
    "message already in the mailbox (same bytes and internal date) is never stored twice, so " +
    "after an interruption run the same command again. --dry-run lists folders and counts.",
    "mbox FILE|DIR reads mboxrd files (a folder: every *.mbox below it, named by its path) into " +
    "--account; --mailbox NAME puts a single file into NAME instead of a mailbox named after " +
    "the file (INBOX, in any case, is the account's INBOX). maildir DIR reads a Maildir++ " +
    "tree into --account (--mailbox NAME receives its root folder instead of INBOX; its " +
    "subfolders keep their names), or with --all one tree per account named by address (as " +
    "`postern export` writes them). Input is checked completely first: on any problem (a " +
    "truncated mbox, junk files in a Maildir) every problem is listed and nothing is imported.",
  ],
  options: {
    account: { type: "string", arg: "ADDRESS", help: "The Postern account to import into" },
    all: { type: "boolean", help: "maildir: DIR holds one Maildir per account (<address>/)" },
    mailbox: {
      type: "string",
      arg: "NAME",
      help: "mbox: target of a single file; maildir: target of the root folder (INBOX allowed)",
    },
    tls: { type: "boolean", help: "imap: implicit TLS (default port 993)" },
    starttls: { type: "boolean", help: "imap: require STARTTLS (the default for imap://)" },
    insecure: { type: "boolean", help: "imap: no TLS at all (loopback and labs only)" },
    "ca-file": {
      type: "string",
      arg: "PEM",
      help: "imap: trust the source's certificate if it chains to a CA in this PEM file",
    },
    "insecure-skip-verify": {
      type: "boolean",
      help: "imap: encrypt but accept any certificate (warns; prefer --ca-file)",
    },
    "password-stdin": { type: "boolean", help: "imap: read the source password from stdin" },
    "dry-run": { type: "boolean", help: "imap: list folders and counts, write nothing" },
    limit: { type: "string", arg: "N", help: "imap: stop after storing N messages (resume later)" },
    ...JSON_OPTION,
  },
  run: lazy(() => import("./cmd_import.ts"), "importCommand"),
};

const exportCommand: Command = {
  name: "export",
  summary: "Move mail out: an account (or all) as mbox files or Maildir++",
  details: [
    "Writes <DIR>/<address>/ per account: with --format mbox one mboxrd file per mailbox " +
    "(INBOX.mbox, Projects/2024.mbox; flags in Status/X-Status/X-Keywords lines, the internal " +
    "date in the From line); with --format maildir a Maildir++ tree (the root is INBOX, .Sent, " +
    ".Projects.2024 …; flags in the :2, suffix, keywords in dovecot-keywords, the internal date " +
    "as the file's mtime). The stored bytes are written unchanged; `postern import` reads both.",
  ],
  options: {
    account: { type: "string", arg: "ADDRESS", help: "The account to export" },
    all: { type: "boolean", help: "Export every account" },
    format: { type: "string", arg: "FORMAT", help: "mbox or maildir" },
    out: { type: "string", arg: "DIR", help: "Folder to write into (created when missing)" },
    ...JSON_OPTION,
  },
  run: lazy(() => import("./cmd_export.ts"), "exportCommand"),
};

const deployCommand: Command = {
  name: "deploy",
  summary: "Write the files to run Postern on Cloudflare, Deno Deploy, systemd or Docker",
  args: "<cloudflare|deno|systemd|docker>",
  arity: [1, 1],
  details: [
    "cloudflare: wrangler.toml (the Worker hosts/worker/main.ts as .build/worker/worker.js; " +
    "D1 bound as DB, R2 as BLOBS for bodies above 1 MiB (unless --no-r2), static assets as " +
    "ASSETS, a cron trigger every " +
    "minute) and the D1 migrations as migrations/NNNN_name.sql; prints the secrets to set, the " +
    "Email Routing steps and the DNS records; then builds the Worker, applies the migrations " +
    "and deploys with wrangler (needs --d1-id).",
    "deno: the Deno Deploy entry (hosts/deno_deploy/main.ts, remote libSQL, Deno.cron): the " +
    "environment and secrets to set, then `deno deploy --app NAME --prod`.",
    "systemd: a hardened postern.service and its postern.env (production ports) in " +
    "deploy/systemd/. docker: Dockerfile, compose.yaml and .dockerignore at the repository root.",
    "--dry-run writes nothing, runs nothing and prints the whole plan. Re-running writes the " +
    "same files (each reported written or unchanged). Secrets are never generated or written.",
  ],
  options: {
    "dry-run": { type: "boolean", help: "Print the plan; write and run nothing" },
    out: { type: "string", arg: "DIR", help: "Folder for the files (default per target, above)" },
    domain: {
      type: "string",
      arg: "DOMAIN",
      help: "The mail domain (default $POSTERN_DOMAIN; required)",
    },
    admin: {
      type: "string",
      arg: "ADDRESS",
      help: "The first admin (default $POSTERN_ADMIN_ADDRESS, else admin@<domain>)",
    },
    name: { type: "string", arg: "NAME", help: "Worker / Deno Deploy app name (default postern)" },
    url: { type: "string", arg: "URL", help: "cloudflare, deno: the public https:// URL" },
    "d1-id": { type: "string", arg: "ID", help: "cloudflare: the D1 database id" },
    r2: {
      type: "string",
      arg: "BUCKET",
      help: "cloudflare: the R2 bucket for bodies above 1 MiB (default <name>-blobs)",
    },
    "no-r2": {
      type: "boolean",
      help: "cloudflare: no R2 bucket; large bodies stay in D1's 1 MiB chunk rows",
    },
    org: { type: "string", arg: "ORG", help: "deno: the Deno Deploy organization" },
    hostname: {
      type: "string",
      arg: "HOST",
      help: "systemd, docker: the mail host name (default mail.<domain>)",
    },
    deno: {
      type: "string",
      arg: "PATH",
      help: "systemd: the deno binary on the host (default /usr/local/bin/deno)",
    },
  },
  run: lazy(() => import("./cmd_deploy.ts"), "deployCommand"),
};

const backupCommand: Command = {
  name: "backup",
  summary: "Take an online snapshot of the whole store (database and blobs) into a file or folder",
  details: [
    "The server keeps running and taking mail meanwhile. --out FILE writes one tar file " +
    "(written as FILE.partial, renamed when whole); --out DIR/ (or an existing empty folder) the " +
    "same parts unpacked. Format (docs/backup.md): tables/<table>/<n>.jsonl row parts, " +
    "objects/<sha256> for bodies kept in an object store (R2), and manifest.json last (format " +
    "and Postern version, migrations, engine, consistency, created-at, per-table row counts, " +
    "SHA-256 of every part, a key check sealed with the master key). Passwords and keys are in " +
    "it only hashed or sealed with the master key, which is never written: keep the key apart.",
    "Consistency: the embedded file is read in one read transaction on a connection of its " +
    "own (a WAL snapshot); remote libSQL (POSTERN_DATABASE_URL) in one read transaction on the " +
    "server; a Worker's D1 + R2 through --gateway only, where each page is one D1 statement " +
    "(D1 has no read transaction across requests: not a point-in-time image, and the manifest " +
    "says so). The written backup is read back and every checksum checked.",
    "--gateway URL saves what the gateway's GET /v1/admin/backup streams (any host), with an " +
    "admin API key of a server administrator (--api-key or POSTERN_API_KEY). Without it the " +
    "configured store is opened directly (needs the master key).",
  ],
  options: {
    out: { type: "string", arg: "FILE|DIR", help: "Where to write (a file, or a folder: DIR/)" },
    gateway: {
      type: "string",
      arg: "URL",
      help: "Take it from a running gateway (GET /v1/admin/backup) instead of the store",
    },
    "api-key": {
      type: "string",
      arg: "KEY",
      help: "--gateway: admin API key (or POSTERN_API_KEY)",
    },
    ...JSON_OPTION,
  },
  run: lazy(() => import("./cmd_backup.ts"), "backupCommand"),
};

const restoreCommand: Command = {
  name: "restore",
  summary: "Bring a backup into an EMPTY data folder (or empty remote database)",
  args: "<FILE|DIR>",
  arity: [1, 1],
  details: [
    "Refuses a data folder (POSTERN_DATA_DIR) that holds anything, or a remote database " +
    "(POSTERN_DATABASE_URL) that has tables. Reads the whole backup first and checks every " +
    "part's size and SHA-256 against the manifest and the master key against the manifest's " +
    "key check; a truncated or altered backup, or another master key, is refused naming the " +
    "part that failed, before anything is written. Then applies the migrations the backup " +
    "was written under, copies the rows, and applies this Postern's newer migrations.",
    "The master key: --master-key-file FILE (copied into <dataDir>/master.key) or " +
    "POSTERN_MASTER_KEY. Start the server on the data folder afterwards (`postern serve`).",
    "Exit codes: 0 restored, 1 the backup was refused or the restore failed, 2 bad usage, 3 " +
    "the target is not empty.",
  ],
  options: {
    "master-key-file": {
      type: "string",
      arg: "FILE",
      help: "The master key the backup was made with (else POSTERN_MASTER_KEY)",
    },
    ...JSON_OPTION,
  },
  run: lazy(() => import("./cmd_backup.ts"), "restoreCommand"),
};

export const COMMANDS: (Command | Group)[] = [
  initCommand,
  serveCommand,
  gatewayCommand,
  bridgeCommand,
  accountGroup,
  domainGroup,
  apikeyGroup,
  keysGroup,
  migrateCommand,
  sendCommand,
  queueGroup,
  reportsGroup,
  configGroup,
  importCommand,
  exportCommand,
  backupCommand,
  restoreCommand,
  deployCommand,
];
