/**
 * kafkajs 2.2's request queue re-arms a 1 ms check forever on an idle connection
 * (platform/bus/kafkajs-request-queue.ts). Loading the Kafka adapter mends it: an idle queue arms
 * no timer. Throttled requests and requests waiting for an in-flight slot still go out.
 *
 * Each case runs in its own Node process, because the mend changes kafkajs' class for the whole
 * process. The "with a real broker" case is in bus-kafka.int.test.ts.
 */
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const kafkaModule = fileURLToPath(new URL('../../../platform/bus/kafka.ts', import.meta.url));

/**
 * Runs `body` in a child that may first load the Kafka adapter, and returns what the child printed
 * as JSON on its last line, with its stderr. `queue(maxInFlight)` makes a kafkajs RequestQueue;
 * `request(id)` a request for it whose `sent` promise resolves when the queue sends it.
 */
function child(loadAdapter: boolean, body: string): { result: Record<string, unknown>; stderr: string } {
  const script = `
    import { createRequire } from 'node:module';
    if (${loadAdapter}) await import(${JSON.stringify(kafkaModule)});
    const require = createRequire(${JSON.stringify(kafkaModule)});
    const RequestQueue = require('kafkajs/src/network/requestQueue/index.js');
    const quiet = { debug() {}, info() {}, warn() {}, error() {} };
    const queue = (maxInFlightRequests) => new RequestQueue({ instrumentationEmitter: null, maxInFlightRequests, requestTimeout: 10000, enforceRequestTimeout: false, clientId: 't', broker: 'b', logger: quiet });
    function request(correlationId) {
      let sent;
      const whenSent = new Promise((resolve) => (sent = resolve));
      const entry = { correlationId, apiKey: 0, apiName: 'Produce', apiVersion: 0, resolve() {}, reject() {} };
      return { pushed: { entry, expectResponse: true, sendRequest: () => sent(Date.now()) }, whenSent };
    }
    const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
    ${body}
  `;
  const run = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8', timeout: 20_000 });
  expect(run.status, run.stderr).toBe(0);
  const lastLine = run.stdout.trim().split('\n').at(-1) ?? '{}';
  return { result: JSON.parse(lastLine) as Record<string, unknown>, stderr: run.stderr };
}

/** A queue that sent and got back one request, then sat idle for 30 ms: is a check armed, and how many ran? */
const IDLE_QUEUE = `
  const q = queue(1);
  let checks = 0;
  const check = q.checkPendingRequests;
  q.checkPendingRequests = function () { checks++; return check.call(this); };
  const r = request(1);
  q.push(r.pushed);
  await r.whenSent;
  q.fulfillRequest({ correlationId: 1, payload: null, size: 0 });
  await sleep(30);
  const armed = q.throttleCheckTimeoutId !== null;
  q.destroy();
  console.log(JSON.stringify({ armed, checks }));
`;

describe("kafkajs' request queue", () => {
  it('without the mend, re-checks an idle queue again and again (so the cases below can fail)', () => {
    const { result, stderr } = child(false, IDLE_QUEUE);
    expect(result.armed).toBe(true);
    // About one check per millisecond; more than one is enough to show the loop.
    expect(result.checks).toBeGreaterThan(1);
    expect(stderr).toMatch(/TimeoutNegativeWarning: -\d{6,} is a negative number/);
  });

  it('once the Kafka adapter is loaded, arms no check on an idle queue, and Node prints no warning', () => {
    const { result, stderr } = child(true, IDLE_QUEUE);
    expect(result).toEqual({ armed: false, checks: 1 });
    expect(stderr).not.toContain('TimeoutNegativeWarning');
  });

  it('still sends a request held by a throttle once the throttle is over, then goes idle', () => {
    const { result } = child(
      true,
      `
      const q = queue(5);
      const throttledAt = Date.now();
      q.maybeThrottle(40);
      const r = request(1);
      q.push(r.pushed);
      const pendingWhileThrottled = q.pending.length;
      const sentAt = await r.whenSent;
      q.fulfillRequest({ correlationId: 1, payload: null, size: 0 });
      await sleep(20);
      const armed = q.throttleCheckTimeoutId !== null;
      q.destroy();
      console.log(JSON.stringify({ pendingWhileThrottled, waitedOutThrottle: sentAt - throttledAt >= 40, armed }));
      `,
    );
    expect(result).toEqual({ pendingWhileThrottled: 1, waitedOutThrottle: true, armed: false });
  });

  it('still sends a request that waited for an in-flight slot, when the slot frees', () => {
    const { result } = child(
      true,
      `
      const q = queue(1);
      const first = request(1);
      const second = request(2);
      q.push(first.pushed);
      await first.whenSent;
      q.push(second.pushed);
      const pendingBehindFirst = q.pending.length;
      q.fulfillRequest({ correlationId: 1, payload: null, size: 0 });
      await second.whenSent;
      q.fulfillRequest({ correlationId: 2, payload: null, size: 0 });
      await sleep(20);
      const armed = q.throttleCheckTimeoutId !== null;
      q.destroy();
      console.log(JSON.stringify({ pendingBehindFirst, pendingAfter: q.pending.length, armed }));
      `,
    );
    expect(result).toEqual({ pendingBehindFirst: 1, pendingAfter: 0, armed: false });
  });

  it('is mended once per process, and a second call says so', () => {
    const { result } = child(
      true,
      `
      const { mendKafkajsRequestQueue } = await import(${JSON.stringify(fileURLToPath(new URL('../../../platform/bus/kafkajs-request-queue.ts', import.meta.url)))});
      console.log(JSON.stringify({ again: mendKafkajsRequestQueue() }));
      `,
    );
    expect(result).toEqual({ again: 'already mended' });
  });
});
