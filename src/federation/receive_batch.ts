/**
 * The receiving side of a batch (docs/federation.md section 6.4): several deliveries from one
 * server in one HTTPS request, each still its own signed envelope. Every delivery runs the
 * single endpoint's checks and pipeline on its own (receive.ts: signature, window, alignment,
 * digest, proof-of-work, the sender's rate limit, nonce, then its own write job), so a bad one
 * fails only itself, a delivery retried in a later batch is stored once (by its Message-ID, as
 * on the single endpoint), and each stored one is answered by its own signed receipt. Only the
 * request's own bounds (count and bytes, refused as a whole) are the batch's.
 */
import {
  type BatchDeliveryRequest,
  type BatchDeliveryResponse,
  type BatchItemResult,
  FEDERATION_ERRORS,
} from "../../schemas/federation.ts";
import type { Deps } from "../deps.ts";
import { AppError, notFound } from "../errors.ts";
import { batchLimits } from "./policy.ts";
import { FederationError, logRefusal, receiveDelivery } from "./receive.ts";

/** Bytes the batch's deliveries take as JSON strings (ASCII: base64 and JWS). */
function batchBytes(request: BatchDeliveryRequest): number {
  let n = 0;
  for (const d of request.deliveries) n += d.envelope.length + d.content.length + 64;
  return n;
}

/** One delivery's answer: what the single endpoint would have said. */
async function one(
  deps: Deps,
  delivery: BatchDeliveryRequest["deliveries"][number],
): Promise<BatchItemResult> {
  try {
    const answer = await receiveDelivery(deps, delivery);
    deps.metrics?.received("federation", answer.results);
    return { status: 200, receipt: answer.receipt, results: answer.results };
  } catch (e) {
    if (e instanceof FederationError) {
      logRefusal(deps, e);
      return { status: FEDERATION_ERRORS[e.code], code: e.code, detail: e.message };
    }
    if (e instanceof AppError) return { status: e.status, code: e.code, detail: e.message };
    // Our trouble, not the delivery's: the sender retries it later, as after a 500.
    deps.logger.log("error", "federation.batch_item_failed", { error: String(e) });
    return { status: 500, code: "internal", detail: "the delivery could not be stored" };
  }
}

/**
 * Receives a batch. The whole request is refused (thrown) only when batches are off here
 * (404) or the batch breaks its advertised bounds (413 too_large).
 */
export async function receiveBatch(
  deps: Deps,
  request: BatchDeliveryRequest,
): Promise<BatchDeliveryResponse> {
  const limits = batchLimits(deps);
  if (!limits) throw notFound("the federation batch endpoint (batches are off here)");
  if (request.deliveries.length > limits.maxMessages) {
    throw new FederationError("too_large", `at most ${limits.maxMessages} deliveries per batch`);
  }
  if (batchBytes(request) > limits.maxBytes) {
    throw new FederationError("too_large", `a batch may carry at most ${limits.maxBytes} bytes`);
  }
  // Side by side: their write jobs meet in one group commit on the embedded store.
  return { items: await Promise.all(request.deliveries.map((d) => one(deps, d))) };
}
