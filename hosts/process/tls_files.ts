/**
 * Generates the self-signed certificate and key `postern init` writes for STARTTLS and implicit
 * TLS on loopback/dev profiles (ECDSA P-256, 10 years, SAN = the host names given), using the
 * system's openssl. Production deployments point POSTERN_TLS_CERT/KEY at real files instead.
 */
import { chmod, stat } from "node:fs/promises";

export async function exists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch {
    return false;
  }
}

export async function generateSelfSigned(
  certFile: string,
  keyFile: string,
  hosts: string[],
): Promise<void> {
  const san = hosts.map((h) => (/^[\d.]+$|:/.test(h) ? `IP:${h}` : `DNS:${h}`)).join(",");
  const { spawnSync } = await import("node:child_process");
  const result = spawnSync("openssl", [
    "req",
    "-x509",
    "-newkey",
    "ec",
    "-pkeyopt",
    "ec_paramgen_curve:P-256",
    "-nodes",
    "-keyout",
    keyFile,
    "-out",
    certFile,
    "-days",
    "3650",
    "-subj",
    `/CN=${hosts[0]}`,
    "-addext",
    `subjectAltName=${san}`,
  ], { stdio: ["ignore", "ignore", "pipe"] });
  if (result.error || result.status !== 0) {
    throw new Error(
      `openssl could not generate a certificate: ${
        result.error?.message ?? result.stderr?.toString()
      }`,
    );
  }
  await chmod(keyFile, 0o600);
}
