/**
 * TOTP second factor (RFC 6238, 30-second steps, 6 digits, SHA-1 as every authenticator app
 * expects) through otpauth, plus single-use recovery codes stored as SHA-256 hashes.
 */
import * as OTPAuth from "otpauth";
import { sha256Hex } from "../crypto.ts";

export function newTotpSecret(): string {
  return new OTPAuth.Secret({ size: 20 }).base32;
}

export function totpFor(secretBase32: string, label: string, issuer: string): OTPAuth.TOTP {
  return new OTPAuth.TOTP({
    issuer,
    label,
    algorithm: "SHA1",
    digits: 6,
    period: 30,
    secret: OTPAuth.Secret.fromBase32(secretBase32),
  });
}

/** Accepts the current code and one step either side (clock drift). */
export function verifyTotp(secretBase32: string, code: string, nowMs: number): boolean {
  if (!/^\d{6}$/.test(code)) return false;
  const totp = totpFor(secretBase32, "x", "x");
  return totp.validate({ token: code, timestamp: nowMs, window: 1 }) !== null;
}

export function currentTotp(secretBase32: string, nowMs: number): string {
  return totpFor(secretBase32, "x", "x").generate({ timestamp: nowMs });
}

const ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789";

/** Ten recovery codes like `k3m9-x7qp-2hvd`; returns the codes and their hashes. */
export async function newRecoveryCodes(): Promise<{ codes: string[]; hashes: string[] }> {
  const codes: string[] = [];
  for (let i = 0; i < 10; i++) {
    const bytes = crypto.getRandomValues(new Uint8Array(12));
    const chars = Array.from(bytes, (b) => ALPHABET[b % ALPHABET.length]).join("");
    codes.push(`${chars.slice(0, 4)}-${chars.slice(4, 8)}-${chars.slice(8, 12)}`);
  }
  return { codes, hashes: await Promise.all(codes.map((c) => sha256Hex(c))) };
}

export const normalizeRecoveryCode = (code: string) => code.trim().toLowerCase();
