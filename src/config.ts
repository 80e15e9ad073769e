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
        "libSQL database URL. Default: file:<dataDir>/postern.db. libsql:// URLs need a libSQL server or Turso.",
      ),
  },
  databaseAuthToken: {
    env: "POSTERN_DATABASE_AUTH_TOKEN",
    schema: z.string().optional().describe("Auth token for a remote libSQL database."),
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
  defaultQuotaBytes: {
    env: "POSTERN_DEFAULT_QUOTA_BYTES",
    schema: int(0, Number.MAX_SAFE_INTEGER).default(5 * 1024 ** 3).describe(
      "Mailbox quota given to new accounts; 0 means unlimited.",
    ),
  },
  loginMaxFailuresPerAccount: {
    env: "POSTERN_LOGIN_MAX_FAILURES_PER_ACCOUNT",
    schema: int(1, 1000).default(5).describe(
      "Failed logins for one account before it is locked for a while.",
    ),
  },
  loginMaxFailuresPerIp: {
    env: "POSTERN_LOGIN_MAX_FAILURES_PER_IP",
    schema: int(1, 100_000).default(20).describe(
      "Failed logins from one IP before it is locked for a while.",
    ),
  },
  loginLockSeconds: {
    env: "POSTERN_LOGIN_LOCK_SECONDS",
    schema: int(1, 86_400).default(900).describe(
      "Failure window and lock duration for login throttling.",
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
      "Destination domains one bridge delivers to at a time (one connection each).",
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
    schema: int(30, 3600).default(600).describe(
      "How long claimed outbox rows stay leased to a bridge before another may take them over.",
    ),
  },
  dnsServers: {
    env: "POSTERN_DNS_SERVERS",
    schema: z.string().default("").describe(
      "Comma-separated DNS servers (host or host:port) for MX/SPF/DKIM/DMARC lookups; empty = the system's.",
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

export type ConfigResult = { ok: true; config: Config } | { ok: false; problems: string[] };

/**
 * Builds the configuration from a config file's object (camelCase keys) and the environment
 * (which wins). Unknown file keys and every invalid value are reported together.
 */
export function parseConfig(
  env: Record<string, string | undefined>,
  file: Record<string, unknown> = {},
): ConfigResult {
  const input: Record<string, unknown> = { ...file };
  for (const [key, field] of Object.entries(CONFIG_FIELDS)) {
    const value = env[field.env];
    if (value !== undefined && value !== "") input[key] = value;
  }
  const parsed = ConfigSchema.safeParse(input);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((issue) => {
      const key = String(issue.path[0] ?? "");
      const field = CONFIG_FIELDS[key as keyof Fields];
      if (issue.code === "unrecognized_keys") {
        return `config file: unknown setting(s) ${issue.keys.join(", ")}`;
      }
      return `${field ? `${field.env} (${key})` : key}: ${issue.message}`;
    });
    return { ok: false, problems };
  }
  return { ok: true, config: parsed.data as Config };
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
