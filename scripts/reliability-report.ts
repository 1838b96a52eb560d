/**
 * Writes RELIABILITY.md from the fault suite's result rows (test-results/faults/<case>.json, one
 * per case, written by test/faults/ledger.ts). Run by scripts/faults.sh after the suite:
 *   node scripts/reliability-report.ts [results dir] [output file]
 * A case whose row is missing (it crashed before counting) is listed as "no result".
 */
import fs from 'node:fs';
import path from 'node:path';

export interface ReliabilityRow {
  /** File name of the row and order key, e.g. `1-influx-down`. */
  case: string;
  /** What was injected, in words. */
  fault: string;
  frames: {
    /** Distinct frames the devices produced. */
    sent: number;
    /** Distinct frames the gateway acknowledged (PUBACK). */
    acked: number;
    /** Distinct frames on the telemetry stream; `busCopies` counts resends stored twice (dropped downstream). */
    onBus: number;
    busCopies: number;
    /** Heart-rate points expected in the store (frames with contact and an RR interval) and found. */
    storeExpected: number;
    storeFound: number;
    lost: number;
    duplicated: number;
  };
  alerts: {
    /** Distinct alerts the processor raised (ids on the alerts stream). */
    raised: number;
    /** … of which reached the clinician's WebSocket in their latest revision. */
    atClinician: number;
    /** … of which the EHR holds (Observation or Communication), and the count expected there. */
    inEhr: number;
    ehrExpected: number;
    lost: number;
    /** One episode raised twice, plus EHR resources beyond one per identifier. */
    duplicated: number;
    /** Scripted episodes whose alarm was due and that no alert covers. */
    missedEpisodes: number;
    /** Physiological alarms no scripted episode explains (rows before issue 12 session 19 lack it). */
    falsePhysiological?: number;
    /** Patient signal_loss alarms raised although the devices never stopped streaming. */
    falseSignalLoss: number;
  };
  /** Seconds from lifting the fault until the affected output had caught up; null when not measured. */
  recoveryS: number | null;
  recoveryOf: string;
  notes: string[];
  checks: { name: string; ok: boolean; detail: string }[];
  wallS: number;
  finishedAt: string;
}

const n = (v: number) => String(v);

export function renderReliability(rows: ReliabilityRow[], missing: string[], meta: { command: string; generatedAt: string }): string {
  const lines: string[] = [];
  lines.push('# Reliability under faults');
  lines.push('');
  lines.push(`Written by \`${meta.command}\` (scripts/faults.sh → test/faults/, scripts/reliability-report.ts) on ${meta.generatedAt}.`);
  lines.push('Every component is its own `bin/pulsebridge` process on a throw-away Kafka and InfluxDB (loopback, own ports and');
  lines.push('state folder); simulated devices stream over mutual TLS with scripted episodes while the fault is injected (every');
  lines.push('other device ECG-only: the processor detects its beats); then every stream is counted end to end. Frames: in =');
  lines.push('acknowledged to the devices (PUBACK), bus = distinct on `pb.telemetry.v1`, out = heart-rate points in InfluxDB (of');
  lines.push('the firmware beats). Alerts: in = distinct alerts the processor raised on `pb.alerts.v1`, out = at the clinician\'s');
  lines.push('WebSocket (latest revision) / in the FHIR server; false alarms = physiological alarms no scripted episode explains.');
  lines.push('');
  lines.push('| fault | frames in | bus | out | lost | duplicated | alerts in | out (WS / EHR) | lost | duplicated | missed episodes | false alarms | false signal_loss | recovery time | result |');
  lines.push('|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|');
  for (const r of [...rows].sort((a, b) => a.case.localeCompare(b.case))) {
    const ok = r.checks.every((c) => c.ok);
    const rec = r.recoveryS === null ? '–' : `${r.recoveryS.toFixed(1)} s (${r.recoveryOf})`;
    lines.push(`| ${r.fault} | ${n(r.frames.acked)} | ${n(r.frames.onBus)}${r.frames.busCopies ? ` (+${r.frames.busCopies} resent copies)` : ''} | ${n(r.frames.storeFound)}/${n(r.frames.storeExpected)} | ${n(r.frames.lost)} | ${n(r.frames.duplicated)} `
      + `| ${n(r.alerts.raised)} | ${n(r.alerts.atClinician)} / ${n(r.alerts.inEhr)} of ${n(r.alerts.ehrExpected)} | ${n(r.alerts.lost)} | ${n(r.alerts.duplicated)} | ${n(r.alerts.missedEpisodes)} | ${r.alerts.falsePhysiological === undefined ? '–' : n(r.alerts.falsePhysiological)} | ${n(r.alerts.falseSignalLoss)} | ${rec} | ${ok ? 'pass' : '**FAIL**'} |`);
  }
  for (const m of missing) lines.push(`| ${m} | – | – | – | – | – | – | – | – | – | – | – | – | – | **no result** |`);
  lines.push('');
  for (const r of [...rows].sort((a, b) => a.case.localeCompare(b.case))) {
    lines.push(`## ${r.fault}`);
    lines.push('');
    lines.push(`${r.frames.sent} frames produced, ${r.frames.acked} acknowledged; wall time ${r.wallS.toFixed(0)} s.`);
    for (const note of r.notes) lines.push(`- ${note}`);
    for (const c of r.checks) lines.push(`- ${c.ok ? 'ok' : '**FAILED**'}: ${c.name} (${c.detail})`);
    lines.push('');
  }
  return lines.join('\n');
}

function main(argv: string[]): void {
  const root = path.resolve(import.meta.dirname, '..');
  const dir = argv[0] ?? path.join(root, 'test-results/faults');
  const outFile = argv[1] ?? path.join(root, 'RELIABILITY.md');
  const expected = (process.env.FAULTS_CASES ?? '').split(',').map((s) => s.trim()).filter(Boolean);
  const rows = fs.existsSync(dir)
    ? fs.readdirSync(dir).filter((f) => f.endsWith('.json')).map((f) => JSON.parse(fs.readFileSync(path.join(dir, f), 'utf8')) as ReliabilityRow)
    : [];
  const missing = expected.filter((c) => !rows.some((r) => r.case === c));
  fs.writeFileSync(outFile, renderReliability(rows, missing, { command: process.env.FAULTS_COMMAND ?? 'npm run faults', generatedAt: new Date().toISOString().slice(0, 16).replace('T', ' ') + ' UTC' }) + '\n');
  const failed = rows.filter((r) => !r.checks.every((c) => c.ok)).map((r) => r.case);
  process.stdout.write(`RELIABILITY.md: ${rows.length} cases, ${failed.length} failed${failed.length ? ` (${failed.join(', ')})` : ''}${missing.length ? `, ${missing.length} without a result (${missing.join(', ')})` : ''}\n`);
}

if (import.meta.url === `file://${process.argv[1]}`) main(process.argv.slice(2));
