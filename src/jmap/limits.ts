/**
 * The limits the session resource advertises (RFC 8620 section 2, `urn:ietf:params:jmap:core`)
 * and the API enforces: derived from the gateway's own request and message limits so that JMAP
 * never lets through what the REST API would refuse.
 */
import type { Config } from "../config.ts";

export interface JmapLimits {
  maxSizeUpload: number;
  maxConcurrentUpload: number;
  maxSizeRequest: number;
  maxConcurrentRequests: number;
  maxCallsInRequest: number;
  maxObjectsInGet: number;
  maxObjectsInSet: number;
  collationAlgorithms: string[];
}

export function jmapLimits(
  config: Pick<Config, "maxRequestBytes" | "maxMessageBytes">,
): JmapLimits {
  return {
    maxSizeUpload: config.maxMessageBytes,
    maxConcurrentUpload: 4,
    maxSizeRequest: Math.min(config.maxRequestBytes, 10 * 1024 * 1024),
    maxConcurrentRequests: 8,
    maxCallsInRequest: 32,
    maxObjectsInGet: 500,
    maxObjectsInSet: 500,
    // RFC 4790 collations: text filters compare case-insensitively (i;unicode-casemap-like).
    collationAlgorithms: ["i;ascii-casemap", "i;unicode-casemap"],
  };
}
