/**
 * TLS material for the bridge's listeners: a certificate chain and key read from PEM files
 * (a self-signed pair is generated at `postern init`; production points at real files).
 */
import { readFileSync } from "node:fs";
import { createSecureContext, type SecureContext } from "node:tls";

export interface TlsFiles {
  certFile: string;
  keyFile: string;
}

export function loadTlsContext(files: TlsFiles): SecureContext {
  return createSecureContext({
    cert: readFileSync(files.certFile),
    key: readFileSync(files.keyFile),
    minVersion: "TLSv1.2",
  });
}
