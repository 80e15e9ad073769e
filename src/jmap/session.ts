/**
 * The JMAP Session resource (RFC 8620 section 2): the capabilities with their limits, the one
 * account a credential reaches (its own; `isPersonal`), and the URLs of the API, downloads,
 * uploads and push (section 7.3 EventSource) as RFC 6570 level 1 templates. `state` is a digest
 * of everything else, so it changes exactly when the session does (section 2).
 */
import type { AuthContext } from "../auth/auth_context.ts";
import { sha256Hex } from "../crypto.ts";
import { accountIdOf } from "./ids.ts";
import type { JmapLimits } from "./limits.ts";
import { CORE, MAIL, SUBMISSION } from "./protocol.ts";
import { MAX_QUERY_LIMIT } from "./email_query.ts";

/** Where the JMAP endpoints are mounted (src/routes/jmap.ts). */
export const JMAP_PATHS = {
  session: "/.well-known/jmap",
  api: "/jmap/api",
  download: "/jmap/download/{accountId}/{blobId}/{name}?accept={type}",
  upload: "/jmap/upload/{accountId}/",
  eventSource: "/jmap/eventsource?types={types}&closeafter={closeafter}&ping={ping}",
};

export async function sessionObject(
  auth: AuthContext,
  baseUrl: string,
  limits: JmapLimits,
  maxMessageBytes: number,
) {
  const id = accountIdOf(auth.accountId);
  const readOnly = !auth.scopes.has("read");
  const session = {
    capabilities: {
      [CORE]: limits,
      [MAIL]: {},
      [SUBMISSION]: {},
    },
    accounts: {
      [id]: {
        name: auth.address,
        isPersonal: true,
        isReadOnly: readOnly,
        accountCapabilities: {
          [MAIL]: {
            // Postern keeps each message in one mailbox (IMAP COPY makes a second message).
            maxMailboxesPerEmail: 1,
            maxMailboxDepth: null,
            maxSizeMailboxName: 200,
            maxSizeAttachmentsPerEmail: maxMessageBytes,
            emailQuerySortOptions: [
              "receivedAt",
              "sentAt",
              "size",
              "from",
              "to",
              "subject",
              "hasKeyword",
              "someInThreadHaveKeyword",
              "allInThreadHaveKeyword",
            ],
            mayCreateTopLevelMailbox: true,
            maxQueryLimit: MAX_QUERY_LIMIT,
          },
          ...(auth.scopes.has("send")
            ? { [SUBMISSION]: { maxDelayedSend: 0, submissionExtensions: {} } }
            : {}),
        },
      },
    },
    primaryAccounts: {
      [MAIL]: id,
      ...(auth.scopes.has("send") ? { [SUBMISSION]: id } : {}),
    },
    username: auth.address,
    apiUrl: baseUrl + JMAP_PATHS.api,
    downloadUrl: baseUrl + JMAP_PATHS.download,
    uploadUrl: baseUrl + JMAP_PATHS.upload,
    eventSourceUrl: baseUrl + JMAP_PATHS.eventSource,
  };
  return { ...session, state: (await sha256Hex(JSON.stringify(session))).slice(0, 16) };
}
