/**
 * kafkajs' request queue sets a negative timeout when it is not throttled, and Node 24 prints a
 * TimeoutNegativeWarning for it at every component's start (platform/bus/kafkajs-timer-warning.ts).
 * A process that loaded the Kafka adapter prints no such warning from kafkajs, and still prints every
 * other warning. Each case runs in its own Node process, since the filter is process-wide (and
 * Node prints a negative timeout's warning only once per process).
 */
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const kafkaModule = fileURLToPath(new URL('../../../platform/bus/kafka.ts', import.meta.url));
const KAFKAJS_WARNING = /TimeoutNegativeWarning: -\d{6,} is a negative number/;

/** Runs `body` in a child that may first load the Kafka adapter; `kafkajsQueue()` lets kafkajs' request queue schedule its check. */
function stderrOfChild(loadAdapter: boolean, body: string): string {
  const script = `
    import { createRequire } from 'node:module';
    if (${loadAdapter}) await import(${JSON.stringify(kafkaModule)});
    const require = createRequire(${JSON.stringify(kafkaModule)});
    const RequestQueue = require('kafkajs/src/network/requestQueue/index.js');
    function kafkajsQueue() {
      const queue = new RequestQueue({ instrumentationEmitter: null, maxInFlightRequests: 1, requestTimeout: 1000, enforceRequestTimeout: true, clientId: 't', broker: 'b', logger: { debug() {}, info() {}, warn() {}, error() {} } });
      queue.scheduleCheckPendingRequests();
      // The queue re-checks every millisecond until it is destroyed (as kafkajs does on disconnect).
      setTimeout(() => queue.destroy(), 20);
    }
    ${body}
  `;
  const child = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8', timeout: 20_000 });
  expect(child.status, child.stderr).toBe(0);
  return child.stderr;
}

describe("kafkajs' negative-timeout warning", () => {
  it('is printed by Node without the filter (so the cases below can fail)', () => {
    expect(stderrOfChild(false, 'kafkajsQueue();')).toMatch(KAFKAJS_WARNING);
  });

  it('is dropped once the Kafka adapter is loaded; other warnings are still printed', () => {
    const stderr = stderrOfChild(true, "kafkajsQueue(); process.emitWarning('still shown', 'ExampleWarning');");
    expect(stderr).not.toMatch(KAFKAJS_WARNING);
    expect(stderr).toContain('ExampleWarning: still shown');
  });

  it('is still printed for a negative timeout that is not kafkajs’', () => {
    expect(stderrOfChild(true, 'setTimeout(() => {}, -7);')).toContain('TimeoutNegativeWarning: -7 is a negative number');
  });
});
