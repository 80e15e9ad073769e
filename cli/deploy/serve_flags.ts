/**
 * The V8 flags `postern serve` runs with, the same wherever it is started: `deno task start`
 * (deno.json, checked equal by test/deploy_cmd_test.ts), the Docker image and the systemd unit.
 * The heap keeps its size while mail keeps coming (no memory reducer); once idle, the server
 * collects itself (exposed gc) and drops the compiled code of functions idle for 15 s, most of
 * it start-up's (deploy/README.md, "Memory").
 */
export const SERVE_V8_FLAGS =
  "--v8-flags=--no-memory-reducer,--expose-gc,--flush-baseline-code,--bytecode-old-time=15";
