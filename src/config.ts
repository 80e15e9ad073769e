/**
 * Postern's configuration: one zod schema, every field described with its environment variable.
 * The entry point reads the environment and an optional JSON config file once at start
 * (`loadConfig`), reports every problem at once, and passes the result down. Pure: no I/O here.
 */
import { z } from "zod";

const bool = z.union([
  z.boolean(),
  z.enum(["true", "false", "1", "0"]).transform((v) => v === "true" || v === "1"),
]);
const int = (min: number, max: number) => z.coerce.number().int().min(min).max(max);

/** Each field: the schema and the environment variable that sets it. */
export const CONFIG_FIELDS = {
  dataDir: {
    env: "POSTERN_DATA_DIR",
    schema: z.string().min(1).default("./data").describe(
      "Folder for the embedded database, the master key and generated TLS files.",
    ),
  },
  databaseUrl: {
    env: "POSTERN_DATABASE_URL",
    schema: z.string().regex(
      /^(file:|libsql:|https?:|wss?:)/,
      "must be a file:, libsql:, http(s): or ws(s): URL",
    )
      .optional().describe(
        "libSQL database URL. Default: file:<dataDir>/postern.db (embedded). Remote libSQL (sqld, Turso): libsql://, https://, http://, wss:// or ws://; every gateway on one URL needs the same master key.",
      ),
  },
  databaseAuthToken: {
    env: "POSTERN_DATABASE_AUTH_TOKEN",
    schema: z.string().optional().describe(
      "Auth token (JWT) for a remote libSQL database, sent as a Bearer token. A secret: never printed or logged.",
    ),
  },
  httpHost: {
    env: "POSTERN_HTTP_HOST",
    schema: z.string().default("127.0.0.1").describe("Address the HTTP gateway binds to."),
  },
  httpPort: {
    env: "POSTERN_HTTP_PORT",
    schema: int(0, 65535).default(8080).describe(
      "TCP port of the HTTP gateway (0 picks a free one).",
    ),
  },
  httpsPort: {
    env: "POSTERN_HTTPS_PORT",
    schema: int(0, 65535).default(0).describe(
      "TCP port of the gateway over HTTPS with the TLS certificate files (443 in production: federation peers reach /.well-known/sharp and the delivery endpoint there); 0 = off.",
    ),
  },
  publicUrl: {
    env: "POSTERN_PUBLIC_URL",
    schema: z.string().url().optional().describe(
      "The gateway's public base URL, used in links. Default: http://<httpHost>:<httpPort>.",
    ),
  },
  hostname: {
    env: "POSTERN_HOSTNAME",
    schema: z.string().min(1).default("postern.localhost").describe(
      "This server's host name: used in Message-IDs, greetings and bounce messages.",
    ),
  },
  masterKey: {
    env: "POSTERN_MASTER_KEY",
    schema: z.string().min(32, "must be at least 32 characters").optional().describe(
      "Secret that signs tokens and encrypts secrets at rest. Default: read from (or created in) <dataDir>/master.key.",
    ),
  },
  encryptAtRest: {
    env: "POSTERN_ENCRYPT_AT_REST",
    schema: bool.default(true).describe(
      'Seal message bodies, attachments, parsed bodies, previews and drafts at rest with per-account data keys (AES-256-GCM, wrapped by the master key; README "Encryption at rest"). Off: new mail is stored in clear; sealed mail stays readable.',
    ),
  },
  accessTokenTtlSeconds: {
    env: "POSTERN_ACCESS_TOKEN_TTL_SECONDS",
    schema: int(30, 86_400).default(900).describe(
      "Lifetime of access tokens (JWTs) issued at login.",
    ),
  },
  refreshTokenTtlDays: {
    env: "POSTERN_REFRESH_TOKEN_TTL_DAYS",
    schema: int(1, 365).default(30).describe("Lifetime of refresh tokens."),
  },
  maxRequestBytes: {
    env: "POSTERN_MAX_REQUEST_BYTES",
    schema: int(1024, 1024 ** 3).default(40 * 1024 * 1024).describe(
      "Largest HTTP request body accepted (413 above it).",
    ),
  },
  maxMessageBytes: {
    env: "POSTERN_MAX_MESSAGE_BYTES",
    schema: int(1024, 1024 ** 3).default(25 * 1024 * 1024).describe(
      "Largest message accepted for delivery (RFC 5322 bytes).",
    ),
  },
  mimeMaxParts: {
    env: "POSTERN_MIME_MAX_PARTS",
    schema: int(10, 100_000).default(1000).describe(
      "MIME parts the parser reads per message. Mail with more is still accepted and stored as received; its parsed form is then degraded (headers only, no body text).",
    ),
  },
  mimeMaxHeaderBytes: {
    env: "POSTERN_MIME_MAX_HEADER_BYTES",
    schema: int(16 * 1024, 64 * 1024 * 1024).default(1024 * 1024).describe(
      "Bytes of one MIME header block the parser reads. Mail with a larger one is still accepted and stored as received, with a degraded parsed form.",
    ),
  },
  postmasterAccount: {
    env: "POSTERN_POSTMASTER_ACCOUNT",
    schema: z.string().min(3).optional().describe(
      "Account that gets mail for postmaster@ each local domain and a bare <postmaster> (RFC 5321 4.5.1) when no account or alias has that name. Default: the first admin.",
    ),
  },
  contentBudgetBytes: {
    env: "POSTERN_CONTENT_BUDGET_BYTES",
    schema: int(1024 * 1024, 1024 ** 4).default(128 * 1024 * 1024).describe(
      "Message content held in memory at once, all clients together, by the bridge (SMTP DATA/BDAT, IMAP APPEND) and again by the HTTP API (request bodies over 1 MiB). When it is spent a new SMTP message gets 452 4.3.1, an APPEND NO [LIMIT], an HTTP request 503 with Retry-After; content already arriving waits (TCP backpressure).",
    ),
  },
  contentBudgetPerIpBytes: {
    env: "POSTERN_CONTENT_BUDGET_PER_IP_BYTES",
    schema: int(1024 * 1024, 1024 ** 4).default(48 * 1024 * 1024).describe(
      "The share of POSTERN_CONTENT_BUDGET_BYTES one client IP may hold: by default one message of the largest size at a time, with smaller ones beside it (one message is always let through).",
    ),
  },
  defaultQuotaBytes: {
    env: "POSTERN_DEFAULT_QUOTA_BYTES",
    schema: int(0, Number.MAX_SAFE_INTEGER).default(5 * 1024 ** 3).describe(
      "Mailbox quota given to new accounts; 0 means unlimited.",
    ),
  },
  // Retention and recovery (issue 21, item 7: src/services/retention.ts, recovery.ts).
  retentionJunkDays: {
    env: "POSTERN_RETENTION_JUNK_DAYS",
    schema: int(0, 36500).default(30).describe(
      "Retention given to new accounts' Junk mailbox: messages there longer than this many " +
        "days are deleted (into the recovery window); 0 keeps them for ever.",
    ),
  },
  retentionTrashDays: {
    env: "POSTERN_RETENTION_TRASH_DAYS",
    schema: int(0, 36500).default(30).describe(
      "Retention given to new accounts' Trash mailbox, in days; 0 keeps mail there for ever.",
    ),
  },
  recoveryDays: {
    env: "POSTERN_RECOVERY_DAYS",
    schema: int(0, 3650).default(14).describe(
      "How long deleted mail (expunged, purged, destroyed, removed by retention) stays " +
        "recoverable (GET /v1/recovery) before its bytes are freed; 0 turns recovery off.",
    ),
  },
  // Sign-in throttling (src/auth/throttle.ts): delays per (account, source) pair and per
  // source, and a hard account lock only as a last resort. The old POSTERN_LOGIN_* names of the
  // lock these replaced still work (`legacyEnv`).
  loginFailuresBeforeDelay: {
    env: "POSTERN_LOGIN_FAILURES_BEFORE_DELAY",
    legacyEnv: "POSTERN_LOGIN_MAX_FAILURES_PER_ACCOUNT",
    schema: int(1, 1000).default(5).describe(
      "Failed sign-ins one source (IPv4 address, IPv6 /64) may make against one account before " +
        "its next attempts there wait a delay (429 + Retry-After, right password included).",
    ),
  },
  loginIpFailuresBeforeDelay: {
    env: "POSTERN_LOGIN_IP_FAILURES_BEFORE_DELAY",
    legacyEnv: "POSTERN_LOGIN_MAX_FAILURES_PER_IP",
    schema: int(1, 100_000).default(20).describe(
      "Failed sign-ins one source address may make across all accounts before each further " +
        "attempt from it, to any account, waits a delay.",
    ),
  },
  loginDelaySeconds: {
    env: "POSTERN_LOGIN_DELAY_SECONDS",
    schema: int(1, 3600).default(1).describe(
      "The first delay after the free failures; it doubles with each further failure.",
    ),
  },
  loginMaxDelaySeconds: {
    env: "POSTERN_LOGIN_MAX_DELAY_SECONDS",
    legacyEnv: "POSTERN_LOGIN_LOCK_SECONDS",
    schema: int(1, 86_400).default(900).describe(
      "The longest delay a failing source waits between sign-in attempts.",
    ),
  },
  loginFailureMemorySeconds: {
    env: "POSTERN_LOGIN_FAILURE_MEMORY_SECONDS",
    schema: int(60, 30 * 86_400).default(3600).describe(
      "A source's (or an account's) failures are forgotten after this long without a new " +
        "failure once its delay has passed.",
    ),
  },
  loginAccountLockFailures: {
    env: "POSTERN_LOGIN_ACCOUNT_LOCK_FAILURES",
    schema: int(0, 10_000_000).default(1000).describe(
      "Last resort against attacks from many sources: this many failed sign-ins to one " +
        "account, from all sources together, lock it for everyone (the owner too) on every " +
        "protocol. 0 turns the lock off.",
    ),
  },
  loginAccountLockSeconds: {
    env: "POSTERN_LOGIN_ACCOUNT_LOCK_SECONDS",
    schema: int(1, 86_400).default(900).describe(
      "How long the last-resort account lock lasts.",
    ),
  },
  outboxExpiryHours: {
    env: "POSTERN_OUTBOX_EXPIRY_HOURS",
    schema: int(1, 24 * 30).default(120).describe(
      "How long an undeliverable message is retried before it bounces (default 5 days).",
    ),
  },
  trustProxy: {
    env: "POSTERN_TRUST_PROXY",
    schema: bool.default(false).describe(
      "Take the client IP from X-Forwarded-For (only behind a proxy you run).",
    ),
  },
  bridgeHost: {
    env: "POSTERN_BRIDGE_HOST",
    schema: z.string().default("127.0.0.1").describe(
      "Address the bridge's SMTP/IMAP/POP3 listeners bind to.",
    ),
  },
  bridgeThread: {
    env: "POSTERN_BRIDGE_THREAD",
    schema: bool.default(false).describe(
      "`postern serve`: run the bridge on a worker thread, so SMTP parsing and SPF/DKIM/DMARC checks use a second core (costs a second JavaScript heap, about 35 MB).",
    ),
  },
  storeWriterThread: {
    env: "POSTERN_STORE_WRITER_THREAD",
    schema: bool.default(false).describe(
      "`postern serve` on Deno with the embedded database: run all write jobs on a worker thread's connection, away from the event loop that speaks SMTP, IMAP and HTTP (Bun keeps them there). Off (the default): MX mail's delivery jobs only. For all jobs it raised SMTP ingest by up to 30% but cost sends about 0.5 ms of CPU each (hand-off, and read caches emptied by the other connection's commits), which lost 25% of send throughput.",
    ),
  },
  smtpPort: {
    env: "POSTERN_SMTP_PORT",
    schema: int(0, 65535).default(2525).describe("SMTP MX port (production: 25; 0 turns it off)."),
  },
  submissionPort: {
    env: "POSTERN_SUBMISSION_PORT",
    schema: int(0, 65535).default(2587).describe(
      "SMTP submission port with STARTTLS required before AUTH (production: 587; 0 turns it off).",
    ),
  },
  submissionsPort: {
    env: "POSTERN_SUBMISSIONS_PORT",
    schema: int(0, 65535).default(0).describe(
      "SMTP submission over implicit TLS (production: 465; 0 = off).",
    ),
  },
  pop3Port: {
    env: "POSTERN_POP3_PORT",
    schema: int(0, 65535).default(1110).describe(
      "POP3 port with STLS (production: 110; 0 turns it off).",
    ),
  },
  pop3sPort: {
    env: "POSTERN_POP3S_PORT",
    schema: int(0, 65535).default(0).describe("POP3 over implicit TLS (production: 995; 0 = off)."),
  },
  pop3AllowPlaintextAuth: {
    env: "POSTERN_POP3_ALLOW_PLAINTEXT_AUTH",
    schema: bool.default(false).describe(
      "Accept POP3 USER/PASS and AUTH PLAIN before STLS (RFC 2595 advises against it).",
    ),
  },
  pop3MaxConnections: {
    env: "POSTERN_POP3_MAX_CONNECTIONS",
    schema: int(1, 100_000).default(1000).describe("Open POP3 connections per listener."),
  },
  pop3MaxConnectionsPerIp: {
    env: "POSTERN_POP3_MAX_CONNECTIONS_PER_IP",
    schema: int(1, 10_000).default(20).describe("Open POP3 connections from one client IP."),
  },
  manageSievePort: {
    env: "POSTERN_MANAGESIEVE_PORT",
    schema: int(0, 65535).default(4190).describe(
      "ManageSieve port (RFC 5804, with STARTTLS) where Thunderbird's and Roundcube's filter editors upload Sieve scripts (IANA: 4190; 0 turns it off).",
    ),
  },
  manageSieveAllowPlaintextAuth: {
    env: "POSTERN_MANAGESIEVE_ALLOW_PLAINTEXT_AUTH",
    schema: bool.default(false).describe(
      "Accept ManageSieve AUTHENTICATE before STARTTLS (otherwise NO (ENCRYPT-NEEDED), RFC 5804 2.1).",
    ),
  },
  manageSieveMaxConnections: {
    env: "POSTERN_MANAGESIEVE_MAX_CONNECTIONS",
    schema: int(1, 100_000).default(500).describe("Open ManageSieve connections."),
  },
  manageSieveMaxConnectionsPerIp: {
    env: "POSTERN_MANAGESIEVE_MAX_CONNECTIONS_PER_IP",
    schema: int(1, 10_000).default(10).describe("Open ManageSieve connections from one client IP."),
  },
  imapPort: {
    env: "POSTERN_IMAP_PORT",
    schema: int(0, 65535).default(1143).describe(
      "IMAP port with STARTTLS (production: 143; 0 turns it off).",
    ),
  },
  imapsPort: {
    env: "POSTERN_IMAPS_PORT",
    schema: int(0, 65535).default(0).describe("IMAP over implicit TLS (production: 993; 0 = off)."),
  },
  imapAllowPlaintextAuth: {
    env: "POSTERN_IMAP_ALLOW_PLAINTEXT_AUTH",
    schema: bool.default(false).describe(
      "Accept IMAP LOGIN and AUTHENTICATE before STARTTLS (otherwise LOGINDISABLED, RFC 3501 6.2.3).",
    ),
  },
  imapMaxConnections: {
    env: "POSTERN_IMAP_MAX_CONNECTIONS",
    schema: int(1, 100_000).default(1000).describe("Open IMAP connections per listener."),
  },
  imapMaxConnectionsPerIp: {
    env: "POSTERN_IMAP_MAX_CONNECTIONS_PER_IP",
    schema: int(1, 10_000).default(50).describe("Open IMAP connections from one client IP."),
  },
  imapMaxLiteralBytes: {
    env: "POSTERN_IMAP_MAX_LITERAL_BYTES",
    schema: int(1024, 16 * 1024 * 1024).default(65_536).describe(
      "Largest IMAP literal other than an APPEND message (APPEND is bounded by the message size limit; the messages of one MULTIAPPEND together).",
    ),
  },
  tlsCertFile: {
    env: "POSTERN_TLS_CERT_FILE",
    schema: z.string().optional().describe(
      "PEM certificate chain for STARTTLS and implicit TLS. Default: <dataDir>/tls/cert.pem (self-signed at init).",
    ),
  },
  tlsKeyFile: {
    env: "POSTERN_TLS_KEY_FILE",
    schema: z.string().optional().describe(
      "PEM private key for the certificate. Default: <dataDir>/tls/key.pem.",
    ),
  },
  smtpMaxRecipients: {
    env: "POSTERN_SMTP_MAX_RECIPIENTS",
    schema: int(1, 1000).default(100).describe(
      "Recipients accepted per SMTP message (RFC 5321 asks for at least 100).",
    ),
  },
  smtpMaxConnections: {
    env: "POSTERN_SMTP_MAX_CONNECTIONS",
    schema: int(1, 100_000).default(1000).describe("Open SMTP connections per listener."),
  },
  smtpMaxConnectionsPerIp: {
    env: "POSTERN_SMTP_MAX_CONNECTIONS_PER_IP",
    schema: int(1, 100_000).default(50).describe("Open SMTP connections from one client IP."),
  },
  smtpEarlyTalkerMs: {
    env: "POSTERN_SMTP_EARLY_TALKER_MS",
    schema: int(0, 30_000).default(1000).describe(
      "Pause before the MX greeting for untrusted clients; a client that talks first is refused (0 = off).",
    ),
  },
  smtpTrustedIps: {
    env: "POSTERN_SMTP_TRUSTED_IPS",
    schema: z.string().default("127.0.0.1,::1").describe(
      "Comma-separated client IPs exempt from the early-talker pause (your own relays).",
    ),
  },
  outboundPort: {
    env: "POSTERN_OUTBOUND_PORT",
    schema: int(0, 65535).default(25).describe(
      "Port of remote MX servers for outbound SMTP (25 on the Internet; 0 turns the outbound worker off).",
    ),
  },
  outboundConcurrency: {
    env: "POSTERN_OUTBOUND_CONCURRENCY",
    schema: int(1, 1000).default(4).describe(
      "Connections one bridge delivers over at a time; a destination with a backlog gets several (5+ messages each).",
    ),
  },
  outboundClaimIntervalMs: {
    env: "POSTERN_OUTBOUND_CLAIM_INTERVAL_MS",
    schema: int(50, 3_600_000).default(5000).describe(
      "Wait before the outbound worker asks for due mail again after finding none.",
    ),
  },
  outboundLeaseSeconds: {
    env: "POSTERN_OUTBOUND_LEASE_SECONDS",
    schema: int(5, 3600).default(600).describe(
      "How long claimed outbox rows stay leased to a bridge before another may take them over (a bridge renews its lease while it works; after a crash its rows are retried once it lapses).",
    ),
  },
  dnsServers: {
    env: "POSTERN_DNS_SERVERS",
    schema: z.string().default("").describe(
      "Comma-separated DNS servers (host or host:port) for MX/SPF/DKIM/DMARC lookups; empty = the system's.",
    ),
  },
  dnsDohUrl: {
    env: "POSTERN_DNS_DOH_URL",
    schema: z.union([z.literal(""), z.url({ protocol: /^https?$/ })]).default("").describe(
      "A DNS-over-HTTPS endpoint (RFC 8484, e.g. https://cloudflare-dns.com/dns-query) to use " +
        "instead of POSTERN_DNS_SERVERS and the system's resolver; empty = off.",
    ),
  },
  dnsCacheSeconds: {
    env: "POSTERN_DNS_CACHE_SECONDS",
    schema: int(0, 3600).default(30).describe(
      "How long the bridge reuses a DNS answer (and a missing name) for inbound SPF/DKIM/DMARC checks and outbound MX/SRV lookups, and (up to 5 s) the SPF/DMARC verdict of unsigned mail from one client, HELO and sender; 0 = no cache.",
    ),
  },
  bridgeGatewayUrl: {
    env: "POSTERN_BRIDGE_GATEWAY_URL",
    schema: z.string().url().optional().describe("`postern bridge`: the gateway's base URL."),
  },
  bridgeApiKey: {
    env: "POSTERN_BRIDGE_API_KEY",
    schema: z.string().optional().describe(
      "`postern bridge`: an API key with the bridge scope (`postern apikey create --scope bridge`).",
    ),
  },
  federationCaFile: {
    env: "POSTERN_FEDERATION_CA_FILE",
    schema: z.string().optional().describe(
      "Extra CA certificates (PEM) trusted for federation peers' HTTPS, e.g. a private CA; the system's are always trusted.",
    ),
  },
  federationAllowPrivate: {
    env: "POSTERN_FEDERATION_ALLOW_PRIVATE",
    schema: bool.default(false).describe(
      "Let federation discovery and delivery reach loopback, private and link-local addresses (tests and labs only).",
    ),
  },
  federationPowBits: {
    env: "POSTERN_FEDERATION_POW_BITS",
    schema: int(0, 32).default(0).describe(
      "Proof-of-work bits asked of federation senders that have not delivered here before (0 = none).",
    ),
  },
  federationRatePerMinute: {
    env: "POSTERN_FEDERATION_RATE_PER_MINUTE",
    schema: int(1, 1_000_000).default(6000).describe(
      "Federation deliveries accepted per sender domain per minute (429 above it).",
    ),
  },
  federationBatchMessages: {
    env: "POSTERN_FEDERATION_BATCH_MESSAGES",
    schema: int(0, 100).default(32).describe(
      "Most federation deliveries taken in one batch request, advertised in the discovery document and used when sending to peers that advertise theirs (0 = no batch endpoint here; send one by one).",
    ),
  },
  federationKeyOverlapHours: {
    env: "POSTERN_FEDERATION_KEY_OVERLAP_HOURS",
    schema: int(0, 24 * 365).default(168).describe(
      "How long a rotated-out federation key stays in the JWKS (and valid) after rotation.",
    ),
  },
  federationDiscoveryTtlSeconds: {
    env: "POSTERN_FEDERATION_DISCOVERY_TTL_SECONDS",
    schema: int(1, 7 * 86_400).default(3600).describe(
      "Longest a peer's discovery document is cached (a shorter ttl in the document wins).",
    ),
  },
  federationNegativeTtlSeconds: {
    env: "POSTERN_FEDERATION_NEGATIVE_TTL_SECONDS",
    schema: int(1, 86_400).default(600).describe(
      "How long a domain without federation (or whose discovery failed) is remembered as such.",
    ),
  },
  federationIntervalMs: {
    env: "POSTERN_FEDERATION_INTERVAL_MS",
    schema: int(20, 3_600_000).default(2000).describe(
      "Wait before the federation worker looks for due mail again after finding none.",
    ),
  },
  webhookAllowPrivate: {
    env: "POSTERN_WEBHOOK_ALLOW_PRIVATE",
    schema: bool.default(false).describe(
      "Let webhook endpoints point at loopback or private addresses (tests, trusted LANs only).",
    ),
  },
  attachmentFetchAllowPrivate: {
    env: "POSTERN_ATTACHMENT_FETCH_ALLOW_PRIVATE",
    schema: bool.default(false).describe(
      "Let attachments given by URL (`path`) be fetched from loopback or private addresses " +
        "(tests, trusted LANs only).",
    ),
  },
  attachmentFetchTimeoutMs: {
    env: "POSTERN_ATTACHMENT_FETCH_TIMEOUT_MS",
    schema: int(100, 120_000).default(15_000).describe(
      "How long fetching one attachment given by URL may take before the send is refused.",
    ),
  },
  webhookIntervalMs: {
    env: "POSTERN_WEBHOOK_INTERVAL_MS",
    schema: int(50, 3_600_000).default(2000).describe(
      "How often `postern serve` looks for due webhook deliveries and new inbound mail to post.",
    ),
  },
  sharpPort: {
    env: "POSTERN_SHARP_PORT",
    schema: int(0, 65535).default(5000).describe(
      "SHARP/1.3 TCP listener port of the bridge (plain TCP, one JSON object per line; 0 turns it off).",
    ),
  },
  sharpMinHashcashBits: {
    env: "POSTERN_SHARP_MIN_HASHCASH_BITS",
    schema: int(0, 40).default(18).describe(
      "Least hashcash bits a SHARP/1.3 sender's stamp must have (429 below it).",
    ),
  },
  sharpHashcashBits: {
    env: "POSTERN_SHARP_HASHCASH_BITS",
    schema: int(1, 32).default(18).describe(
      "Hashcash bits Postern mints for each outbound SHARP/1.3 delivery (18: about a second of one core).",
    ),
  },
  sharpOutbound: {
    env: "POSTERN_SHARP_OUTBOUND",
    schema: bool.default(true).describe(
      "Deliver to domains that publish `_sharp._tcp` SRV records over SHARP/1.3 instead of SMTP (submission then refuses, 422 / SMTP 553, addresses SHARP/1.3 cannot carry for those domains).",
    ),
  },
  // Sieve (issue 21 item 2): limits per account and per script run.
  sieveMaxScriptBytes: {
    env: "POSTERN_SIEVE_MAX_SCRIPT_BYTES",
    schema: int(1024, 1024 * 1024).default(64 * 1024).describe(
      "Largest Sieve script an account may store (UTF-8 bytes; 413 `sieve_quota` above it).",
    ),
  },
  sieveMaxScripts: {
    env: "POSTERN_SIEVE_MAX_SCRIPTS",
    schema: int(1, 1000).default(32).describe(
      "Most Sieve scripts one account may store (413 `sieve_quota` for one more).",
    ),
  },
  sieveMaxRedirects: {
    env: "POSTERN_SIEVE_MAX_REDIRECTS",
    schema: int(0, 100).default(4).describe(
      "Most `redirect` actions one Sieve run may take for a message (RFC 5228 section 4.2); later ones are ignored and logged.",
    ),
  },
  // Spam filtering (issue 21 item 1: src/spam/, src/services/spam*.ts).
  spamEnabled: {
    env: "POSTERN_SPAM_ENABLED",
    schema: bool.default(true).describe(
      "Score mail from other servers (SMTP MX, SHARP/1.3, federation) for spam: add X-Spam-Status/X-Spam-Score, file it into Junk or refuse it by the thresholds (domains and accounts may set their own).",
    ),
  },
  spamJunkScore: {
    env: "POSTERN_SPAM_JUNK_SCORE",
    schema: z.coerce.number().min(-100).max(1000).default(5).describe(
      "Default spam score at or above which mail is delivered into Junk.",
    ),
  },
  spamRejectScore: {
    env: "POSTERN_SPAM_REJECT_SCORE",
    schema: z.coerce.number().min(-100).max(1000).default(15).describe(
      "Default spam score at or above which mail is refused at DATA (550 5.7.1); never for an authenticated, aligned sender the recipient has written to.",
    ),
  },
  spamDnsblZones: {
    env: "POSTERN_SPAM_DNSBL_ZONES",
    schema: z.string().default("").describe(
      "DNS blocklists of client addresses, comma-separated, each `zone` or `zone=score` (e.g. `zen.spamhaus.org=4,bl.spamcop.net=2`; default score 3). Queried through the gateway's DNS (POSTERN_DNS_SERVERS); answers cached for their TTL. Empty: none.",
    ),
  },
  spamTrustedNetworks: {
    env: "POSTERN_SPAM_TRUSTED_NETWORKS",
    schema: z.string().default("127.0.0.0/8,::1").describe(
      "Client networks (CIDR, comma-separated) that are never greylisted, rate-limited or looked up in blocklists.",
    ),
  },
  spamGreylist: {
    env: "POSTERN_SPAM_GREYLIST",
    schema: bool.default(false).describe(
      "Greylist first-time (client /24, sender, recipient) triplets on the MX: 451 4.7.1 at RCPT until the sender retries after POSTERN_SPAM_GREYLIST_DELAY_SECONDS. Exempt: authenticated submission, senders the recipient has written to, networks that passed before, trusted networks.",
    ),
  },
  spamGreylistDelaySeconds: {
    env: "POSTERN_SPAM_GREYLIST_DELAY_SECONDS",
    schema: int(0, 86_400).default(300).describe(
      "How long a new greylisting triplet is deferred before a retry is accepted.",
    ),
  },
  spamGreylistRetrySeconds: {
    env: "POSTERN_SPAM_GREYLIST_RETRY_SECONDS",
    schema: int(60, 30 * 86_400).default(2 * 86_400).describe(
      "How long after its first attempt a greylisted triplet may come back; later it starts again.",
    ),
  },
  spamGreylistAutoAllow: {
    env: "POSTERN_SPAM_GREYLIST_AUTO_ALLOW",
    schema: int(0, 1000).default(3).describe(
      "Triplets a client network must pass before all its mail skips greylisting (0 = never).",
    ),
  },
  spamSenderPerHour: {
    env: "POSTERN_SPAM_SENDER_PER_HOUR",
    schema: int(0, 10_000_000).default(1000).describe(
      "Messages accepted per hour from one envelope sender over SMTP/SHARP (then 451 4.7.1; 0 = no limit).",
    ),
  },
  spamIpPerHour: {
    env: "POSTERN_SPAM_IP_PER_HOUR",
    schema: int(0, 10_000_000).default(3000).describe(
      "Messages accepted per hour from one client address over SMTP/SHARP (then 451 4.7.1; 0 = no limit).",
    ),
  },
  spamBayesMinMessages: {
    env: "POSTERN_SPAM_BAYES_MIN_MESSAGES",
    schema: int(1, 100_000).default(5).describe(
      "Spam and ham messages an account must each have trained (moved into and out of Junk) before its Bayesian classifier scores mail.",
    ),
  },
  logLevel: {
    env: "POSTERN_LOG_LEVEL",
    schema: z.enum(["debug", "info", "warn", "error"]).default("info").describe(
      "Lowest log level written.",
    ),
  },
} as const;

type Fields = typeof CONFIG_FIELDS;
export type Config = { [K in keyof Fields]: z.output<Fields[K]["schema"]> };

export const ConfigSchema = z.object(
  Object.fromEntries(Object.entries(CONFIG_FIELDS).map(([k, f]) => [k, f.schema])) as {
    [K in keyof Fields]: Fields[K]["schema"];
  },
).strict();

/** Config file keys renamed since (with their environment variables, `legacyEnv`). */
const RENAMED_KEYS: Record<string, keyof Fields> = {
  loginMaxFailuresPerAccount: "loginFailuresBeforeDelay",
  loginMaxFailuresPerIp: "loginIpFailuresBeforeDelay",
  loginLockSeconds: "loginMaxDelaySeconds",
};

export type ConfigResult = { ok: true; config: Config } | { ok: false; problems: string[] };

/** Settings whose values are credentials: never printed, in errors or in `config check`. */
export const SECRET_SETTINGS: ReadonlySet<string> = new Set([
  "masterKey",
  "databaseAuthToken",
  "bridgeApiKey",
]);

/** A value as shown in an error: as given, or only its length for a secret. */
function shownValue(key: string, value: unknown): string {
  if (SECRET_SETTINGS.has(key)) {
    return `(secret, ${String(value).length} characters)`;
  }
  return typeof value === "string" ? value : JSON.stringify(value);
}

/** `schema` without its default/optional wrappers. */
function innerSchema(schema: z.ZodType): z.ZodType {
  let s = schema;
  while (s instanceof z.ZodDefault || s instanceof z.ZodOptional) {
    s = s.def.innerType as z.ZodType;
  }
  return s;
}

/**
 * What a setting accepts, in words, derived from its schema ("a whole number from 0 to
 * 65535"), so an error says what to write instead of zod's "expected number, received NaN".
 */
export function expectedValue(schema: z.ZodType): string | undefined {
  const s = innerSchema(schema);
  if (s instanceof z.ZodNumber) {
    const kind = s.isInt ? "a whole number" : "a number";
    const [min, max] = [s.minValue, s.maxValue];
    if (min !== null && max !== null && max < Number.MAX_SAFE_INTEGER) {
      return `${kind} from ${min} to ${max}`;
    }
    return min !== null ? `${kind} from ${min} up` : kind;
  }
  if (s instanceof z.ZodEnum) return `one of ${s.options.join(", ")}`;
  if (s === bool) return "true, false, 1 or 0";
  return undefined;
}

/** One line per problem: the variable, the value given and what it must be. */
function describeIssue(
  issue: z.core.$ZodIssue,
  input: Record<string, unknown>,
  fromEnv: Set<string>,
) {
  const key = String(issue.path[0] ?? "");
  const field = CONFIG_FIELDS[key as keyof Fields];
  if (!field) return `${key}: ${issue.message}`;
  const name = fromEnv.has(key) ? field.env : `config file ${key} (${field.env})`;
  const expected = expectedValue(field.schema);
  let what = issue.message;
  if (expected) what = `expected ${expected}`;
  else if (issue.code === "too_small") what = `expected at least ${issue.minimum} characters`;
  else if (issue.code === "invalid_format" && issue.format === "url") {
    what = "expected an absolute URL such as https://mail.example.org";
  } else if (issue.code === "invalid_type") what = `expected ${issue.expected}`;
  return `${name}=${shownValue(key, input[key])}: ${what}`;
}

/**
 * Builds the configuration from a config file's object (camelCase keys) and the environment
 * (which wins). Unknown file keys and every invalid value are reported together.
 */
export function parseConfig(
  env: Record<string, string | undefined>,
  file: Record<string, unknown> = {},
): ConfigResult {
  const input: Record<string, unknown> = { ...file };
  for (const [old, key] of Object.entries(RENAMED_KEYS)) {
    if (!(old in input)) continue;
    input[key] ??= input[old];
    delete input[old];
  }
  const fromEnv = new Set<string>();
  for (const [key, field] of Object.entries(CONFIG_FIELDS)) {
    const value = env[field.env] ??
      ("legacyEnv" in field ? env[field.legacyEnv] : undefined);
    if (value !== undefined && value !== "") {
      input[key] = value;
      fromEnv.add(key);
    }
  }
  const parsed = ConfigSchema.safeParse(input);
  if (!parsed.success) {
    const problems: string[] = [];
    const seen = new Set<string>();
    for (const issue of parsed.error.issues) {
      if (issue.code === "unrecognized_keys") {
        problems.push(`config file: unknown setting(s) ${issue.keys.join(", ")}`);
        continue;
      }
      // One line per setting: "abc" for a port fails the number check and nothing else
      // matters, but "1.5" must not also say "too small".
      const key = String(issue.path[0] ?? "");
      if (seen.has(key)) continue;
      seen.add(key);
      problems.push(describeIssue(issue, input, fromEnv));
    }
    return { ok: false, problems };
  }
  return { ok: true, config: parsed.data as Config };
}

/** Edit distance (insertions, deletions, substitutions) between two names. */
function distance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const cur = [i];
    for (let j = 1; j <= b.length; j++) {
      cur[j] = Math.min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
    prev = cur;
  }
  return prev[b.length];
}

/**
 * POSTERN_* variables in `env` that no setting (nor `alsoKnown`, the entry points' own) reads,
 * each with the closest known name when one is near: a misspelt setting would otherwise be
 * ignored without a word. Only warnings: other tools may use the same prefix.
 */
export function unknownSettings(
  env: Record<string, string | undefined>,
  alsoKnown: readonly string[] = [],
): { name: string; suggestion?: string }[] {
  const known = new Set<string>(alsoKnown);
  for (const field of Object.values(CONFIG_FIELDS)) {
    known.add(field.env);
    if ("legacyEnv" in field) known.add(field.legacyEnv);
  }
  const out: { name: string; suggestion?: string }[] = [];
  for (const name of Object.keys(env).sort()) {
    if (!name.startsWith("POSTERN_") || known.has(name)) continue;
    let best: { name: string; d: number } | undefined;
    for (const k of known) {
      const d = distance(name, k);
      if (!best || d < best.d) best = { name: k, d };
    }
    // Near enough to be a typo: a few edits, relative to the part after the prefix.
    const near = best && best.d <= Math.max(2, Math.floor((name.length - 8) / 4));
    out.push(near ? { name, suggestion: best!.name } : { name });
  }
  return out;
}

/** The text of deploy/env.example, generated from the schema. */
export function envExample(): string {
  const lines = [
    "# Postern configuration. Generated from src/config.ts by `postern config example`.",
    "",
  ];
  for (const field of Object.values(CONFIG_FIELDS)) {
    lines.push(`# ${field.schema.description ?? ""}`);
    const def = field.schema.safeParse(undefined);
    const value = def.success && def.data !== undefined ? String(def.data) : "";
    lines.push(`# ${field.env}=${value}`, "");
  }
  return lines.join("\n");
}
