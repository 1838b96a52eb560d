/**
 * CPU an idle production deployment burns: the components `pulsebridge processor`, `gateway` and
 * `dashboard-api` on Kafka and InfluxDB, no device connected. (The `ehr-exporter` needs an EHR to be
 * idle: pointed at none, it retries whatever alerts the local Kafka holds from earlier runs.) Each runs as its own
 * process, the way production runs them. After a warm-up, the bench reads each process's CPU time
 * (user + system, /proc/<pid>/stat) over a window.
 *
 * `--baseline DIR` runs the same components from another checkout too (e.g. a `git worktree` of an
 * older commit, with `node_modules` linked in), alternating with this one round by round, so both
 * see the same machine.
 *
 *   npm run services
 *   node bench/idle-cpu.ts [--rounds 2] [--warmup 20] [--window 30] [--baseline DIR]
 *
 * Prints, per tree and component, the CPU ms per second of wall time, each round and the median.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { kafkaAnswers } from '../platform/bus/kafka.ts';
import { ensureDevPki } from '../platform/security/index.ts';

const { values } = parseArgs({
  options: {
    rounds: { type: 'string', default: '2' },
    warmup: { type: 'string', default: '20' },
    window: { type: 'string', default: '30' },
    baseline: { type: 'string' },
  },
});
const rounds = Number(values.rounds);
const warmupMs = Number(values.warmup) * 1000;
const windowMs = Number(values.window) * 1000;
const kafkaBrokers = (process.env.KAFKA_BROKERS ?? '127.0.0.1:9092').split(',');
const influxUrl = process.env.INFLUX_URL ?? 'http://127.0.0.1:8086';
const COMPONENTS = ['processor', 'gateway', 'dashboard-api'] as const;
const trees: { name: string; root: string }[] = [{ name: 'this checkout', root: resolve(import.meta.dirname, '..') }];
if (values.baseline) trees.push({ name: `baseline ${values.baseline}`, root: resolve(values.baseline) });

if (!(await kafkaAnswers(kafkaBrokers))) throw new Error(`no Kafka at ${kafkaBrokers.join(',')}: run npm run services first`);

/** utime + stime of a process, ms (clock ticks of 10 ms on Linux). */
const cpuMsOf = (pid: number): number => {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return (Number(fields[11]) + Number(fields[12])) * 10;
};
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

/** Starts every component of one tree, idles, and returns CPU ms per second per component. */
async function idleRound(root: string): Promise<Record<string, number>> {
  const dataDir = mkdtempSync(join(tmpdir(), 'pb-idle-'));
  ensureDevPki(dataDir);
  const env = {
    ...process.env,
    PULSEBRIDGE_BUS: 'kafka',
    KAFKA_BROKERS: kafkaBrokers.join(','),
    PULSEBRIDGE_STORE: 'influxdb',
    INFLUX_URL: influxUrl,
    PULSEBRIDGE_DATA_DIR: dataDir,
    // Ports of their own, so the bench does not collide with a running demo.
    PULSEBRIDGE_MQTT_PORT: '18883',
    PULSEBRIDGE_HTTP_PORT: '18080',
  };
  const children = new Map<string, ChildProcess>();
  for (const component of COMPONENTS) {
    const child = spawn(process.execPath, [join(root, 'cli/main.ts'), component], { cwd: root, env, stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('exit', (code) => { if (code !== null && code !== 0) process.stderr.write(`  ${component} exited ${code}: ${stderr.slice(-400)}\n`); });
    children.set(component, child);
  }
  try {
    await sleep(warmupMs);
    const before = new Map([...children].map(([c, p]) => [c, cpuMsOf(p.pid!)]));
    await sleep(windowMs);
    const out: Record<string, number> = {};
    for (const [c, p] of children) out[c] = (cpuMsOf(p.pid!) - before.get(c)!) / (windowMs / 1000);
    return out;
  } finally {
    for (const child of children.values()) child.kill('SIGTERM');
    await Promise.all([...children.values()].map((c) => new Promise((r) => (c.exitCode !== null ? r(null) : c.on('exit', r)))));
    rmSync(dataDir, { recursive: true, force: true });
  }
}

const results = new Map(trees.map((t) => [t.name, new Map<string, number[]>(COMPONENTS.map((c) => [c, []]))]));
for (let round = 1; round <= rounds; round++) {
  for (const tree of round % 2 === 1 ? trees : [...trees].reverse()) {
    const r = await idleRound(tree.root);
    for (const c of COMPONENTS) results.get(tree.name)!.get(c)!.push(r[c]!);
    console.log(`round ${round}, ${tree.name}: ${COMPONENTS.map((c) => `${c} ${r[c]!.toFixed(1)}`).join(', ')} CPU ms/s`);
  }
}
console.log(`\nidle CPU, ms per second of wall time (median of ${rounds}; warm-up ${warmupMs / 1000} s, window ${windowMs / 1000} s)`);
console.log(['tree'.padEnd(40), ...COMPONENTS.map((c) => c.padStart(14)), 'all'.padStart(8)].join(''));
for (const [name, byComponent] of results) {
  const medians = COMPONENTS.map((c) => median(byComponent.get(c)!));
  console.log([name.padEnd(40), ...medians.map((m) => m.toFixed(1).padStart(14)), medians.reduce((a, b) => a + b, 0).toFixed(1).padStart(8)].join(''));
}
