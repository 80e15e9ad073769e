/**
 * Spam thresholds per domain (set by an admin) and per account (set by its user), each field
 * falling back to the next level: account → domain → configuration (`spamJunkScore`,
 * `spamRejectScore`, `spamEnabled`). Read in the delivery's one spam read
 * (services/spam_verdict.ts); written here by the REST routes (routes/spam.ts).
 */
import type { Deps } from "../deps.ts";
import { AppError } from "../errors.ts";
import type { Queryable } from "../store/store.ts";
import { rawSql } from "../store/store.ts";
import type { Thresholds } from "../spam/verdict.ts";

export interface SpamSettingsRow {
  junkScore: number | null;
  rejectScore: number | null;
  enabled: boolean | null;
}

export interface EffectiveSpamSettings extends Thresholds {
  enabled: boolean;
}

export const domainScope = (domain: string) => `d:${domain.toLowerCase()}`;
export const accountScope = (accountId: number) => `a:${accountId}`;

const EMPTY: SpamSettingsRow = { junkScore: null, rejectScore: null, enabled: null };

/** A row as SQL gives it (`enabled` 0/1/null) in its JSON form. */
export function settingsRow(
  r: { junk_score?: unknown; reject_score?: unknown; enabled?: unknown } | undefined,
): SpamSettingsRow {
  if (!r) return { ...EMPTY };
  const num = (v: unknown) => (v === null || v === undefined ? null : Number(v));
  return {
    junkScore: num(r.junk_score),
    rejectScore: num(r.reject_score),
    enabled: r.enabled === null || r.enabled === undefined ? null : Number(r.enabled) === 1,
  };
}

/** The settings in force: the account's, else the domain's, else the configuration's. */
export function effectiveSettings(
  config: Deps["config"],
  account: SpamSettingsRow | undefined,
  domain: SpamSettingsRow | undefined,
): EffectiveSpamSettings {
  const pick = <K extends keyof SpamSettingsRow>(k: K) => account?.[k] ?? domain?.[k] ?? null;
  return {
    enabled: pick("enabled") ?? config.spamEnabled,
    junk: pick("junkScore") ?? config.spamJunkScore,
    reject: pick("rejectScore") ?? config.spamRejectScore,
  };
}

/** One scope's own settings (nulls where it keeps the next level's). */
export async function readSettings(db: Queryable, scope: string): Promise<SpamSettingsRow> {
  return settingsRow(
    await rawSql(db).get(
      "SELECT junk_score, reject_score, enabled FROM spam_settings WHERE scope = ?",
      [scope],
    ),
  );
}

/**
 * Sets a scope's settings (a field left out keeps its value, null clears it), refusing a
 * reject threshold at or below the Junk one that would be in force: the Junk band would vanish.
 */
export async function writeSettings(
  deps: Deps,
  scope: string,
  change: Partial<SpamSettingsRow>,
  fallback: SpamSettingsRow | undefined,
): Promise<SpamSettingsRow> {
  const current = await readSettings(deps.store.db, scope);
  const next: SpamSettingsRow = { ...current, ...change };
  const eff = effectiveSettings(deps.config, next, fallback);
  if (eff.reject <= eff.junk) {
    throw new AppError(422, "validation_failed", "rejectScore must be above junkScore", [
      { path: "rejectScore", message: `must be above the Junk threshold ${eff.junk}` },
    ]);
  }
  await deps.store.batch([{
    sql: `INSERT INTO spam_settings (scope, junk_score, reject_score, enabled, updated_at)
      VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT(scope) DO UPDATE SET junk_score = ?2,
      reject_score = ?3, enabled = ?4, updated_at = ?5`,
    args: [
      scope,
      next.junkScore,
      next.rejectScore,
      next.enabled === null ? null : next.enabled ? 1 : 0,
      deps.clock.now(),
    ],
  }]);
  return next;
}
