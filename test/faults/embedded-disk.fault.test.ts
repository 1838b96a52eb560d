/**
 * Embedded mode (`pulsebridge demo`, in-process bus, SQLite in the data folder) on a disk that
 * fills up while devices stream, and on a read-only data folder:
 * - disk full: the store write fails with a clear "disk is full" error (not SQLite's "cannot
 *   rollback"), is retried, and once space is back every point is stored; the databases pass
 *   `PRAGMA integrity_check`, the demo stops cleanly and starts again on the same folder;
 * - read-only folder: the demo refuses to start with one clear sentence and changes nothing.
 * Needs root (a 3 MiB tmpfs and a read-only bind mount), as CI runs.
 */
import { execFileSync, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { expect, it } from 'vitest';
import { runSim, scenarioFromPhases } from '../../device-sim/index.ts';
import type { ReliabilityRow } from '../../scripts/reliability-report.ts';
import { sleep, waitFor } from '../helpers/wait.ts';
import { ClinicianStream, duplicateEpisodes, latestById, missedEpisodes, SentFrames, writeRow, type Check } from './ledger.ts';
import { ROOT, RESULTS_DIR } from './stack.ts';
import { freePort } from '../helpers/wait.ts';

const CLI = path.join(ROOT, 'bin/pulsebridge');
const run = (args: string[]) => execFileSync(CLI, args, { encoding: 'utf8', env: { PATH: process.env.PATH, HOME: process.env.HOME }, timeout: 60_000 }).trim();
const sha = (file: string) => createHash('sha256').update(fs.readFileSync(file)).digest('hex');

function startDemo(dataDir: string, mqttPort: number, httpPort: number, logName: string) {
  fs.mkdirSync(path.join(RESULTS_DIR, 'logs'), { recursive: true });
  const logPath = path.join(RESULTS_DIR, 'logs', logName);
  const fd = fs.openSync(logPath, 'w');
  const child = spawn(CLI, ['demo', '--devices', '0', '--data-dir', dataDir, '--mqtt-port', String(mqttPort), '--http-port', String(httpPort)], {
    env: { PATH: process.env.PATH, HOME: process.env.HOME, PULSEBRIDGE_LOG_LEVEL: 'info' }, stdio: ['ignore', fd, fd], cwd: ROOT,
  });
  fs.closeSync(fd);
  fs.appendFileSync(path.join(RESULTS_DIR, 'pids'), `${child.pid}\n`);
  const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
  const log = () => fs.readFileSync(logPath, 'utf8');
  return { child, exited, log, ready: () => waitFor('the demo to run', () => {
    if (child.exitCode !== null) throw new Error(`demo exited ${child.exitCode}: ${log().slice(-2000)}`);
    return log().includes('Press Ctrl+C to stop.') ? true : undefined;
  }, 60_000) };
}

function integrity(file: string): string {
  const db = new DatabaseSync(file);
  try {
    return (db.prepare('PRAGMA integrity_check').get() as { integrity_check: string }).integrity_check;
  } finally {
    db.close();
  }
}

it('embedded mode: a full disk loses no acknowledged frame and corrupts nothing; a read-only data folder is a clear error', async () => {
  const wallStart = Date.now();
  const checks: Check[] = [];
  const notes: string[] = [];
  const check = (name: string, ok: boolean, detail: string) => checks.push({ name, ok, detail });
  const mnt = fs.mkdtempSync('/tmp/pb-faults-disk-');
  const roMnt = fs.mkdtempSync('/tmp/pb-faults-ro-');
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=3m', 'tmpfs', mnt]);
  } catch (err) {
    throw new Error(`this case needs root to mount a small tmpfs (CI runs as root): ${(err as Error).message}`);
  }
  const dataDir = path.join(mnt, 'data');
  const filler = path.join(mnt, 'filler');
  let demo: ReturnType<typeof startDemo> | undefined;
  try {
    const [mqttPort, httpPort] = [await freePort(), await freePort()];
    demo = startDemo(dataDir, mqttPort, httpPort, '6-embedded-disk-demo-1.log');
    await demo.ready();
    const devices = [0, 1].map((i) => ({ deviceId: `disk-d${i}`, patientId: `disk-p${i}` }));
    for (const d of devices) run(['device', 'add', d.deviceId, '--patient', d.patientId, '--json', '--data-dir', dataDir]);
    const token = run(['token', '--sub', 'dr-disk', '--role', 'clinician', '--patients', devices.map((d) => d.patientId).join(','), '--data-dir', dataDir]);
    const clinician = new ClinicianStream(`http://127.0.0.1:${httpPort}`, token);
    await clinician.open();

    const sent = new SentFrames();
    const speed = 2;
    const deviceMs = 50_000 * speed;
    const creds = (id: string) => ({ cert: path.join(dataDir, 'pki', 'devices', `${id}.crt`), key: path.join(dataDir, 'pki', 'devices', `${id}.key`) });
    const simming = runSim({
      devices: devices.map((d) => d.deviceId),
      scenario: scenarioFromPhases('disk', [{ kind: 'normal', durationMs: 20_000 }, { kind: 'extreme_brady', durationMs: 30_000 }, { kind: 'normal', durationMs: 20_000 },
        { kind: 'extreme_tachy', durationMs: 20_000 }, { kind: 'normal', durationMs: 10_000 }]),
      durationMs: deviceMs, speed, t0Ms: Date.now() - deviceMs, seed: 'disk',
      connect: { url: `mqtts://localhost:${mqttPort}`, ca: fs.readFileSync(path.join(dataDir, 'pki', 'server-ca.crt')), reconnectPeriodMs: 500,
        certFor: (id) => fs.readFileSync(creds(id).cert), keyFor: (id) => fs.readFileSync(creds(id).key) },
      onFrame: sent.onFrame,
    });
    // Fill the disk 8 s in, keep it full for 15 s, then free it.
    await sleep(8000);
    const fd = fs.openSync(filler, 'w');
    try { for (;;) fs.writeSync(fd, Buffer.alloc(64 * 1024)); } catch (err) { notes.push(`disk filled (${(err as NodeJS.ErrnoException).code}) after ${((Date.now() - wallStart) / 1000).toFixed(0)} s`); }
    fs.closeSync(fd);
    const fullAt = Date.now();
    await sleep(15_000);
    fs.rmSync(filler);
    const freedAt = Date.now();
    const summary = await simming;

    // Every point of every acknowledged frame in the SQLite store once space is back.

    const countStored = (sentBeforeMs = Infinity) => {
      const db = new DatabaseSync(path.join(dataDir, 'vitals.sqlite'), { readOnly: true });
      try {
        const want = sent.expectedPoints((id) => devices.find((d) => d.deviceId === id)!.patientId, sentBeforeMs);
        let found = 0;
        let total = 0;
        for (const [p, times] of want) {
          const got = new Set((db.prepare('SELECT time_ms FROM heart_rate WHERE patient_id = ?').all(p) as { time_ms: number }[]).map((r) => r.time_ms));
          for (const t of times) { total++; if (got.has(t)) found++; }
        }
        return { found, total };
      } finally {
        db.close();
      }
    };
    let recoveryS: number | null = null;
    await waitFor('points of frames sent before the disk was freed', () => {
      const c = countStored(freedAt);
      return c.found === c.total ? true : undefined;
    }, 120_000).then(() => { recoveryS = (Date.now() - freedAt) / 1000; }).catch(() => {});
    await waitFor('every point', () => { const c = countStored(); return c.found === c.total ? true : undefined; }, 60_000).catch(() => {});
    const stored = countStored();
    await sleep(2000);
    const alerts = latestById(clinician.alerts());
    clinician.close();

    const log = demo.log();
    const fullErrors = log.split('\n').filter((l) => l.includes('store write failed'));
    check('every frame produced was acknowledged', summary.framesAcked === sent.frames.size, `${summary.framesAcked} of ${sent.frames.size}`);
    check('every heart-rate point is in the SQLite store', stored.found === stored.total, `${stored.found} of ${stored.total}`);
    check('the store write failed while the disk was full, with a clear reason', fullErrors.length > 0 && fullErrors.every((l) => l.includes('the disk is full')),
      fullErrors.length === 0 ? 'no failed store write logged' : JSON.parse(fullErrors[0]!).err?.message ?? fullErrors[0]!);
    check('no "cannot rollback" error hides the cause', !log.includes('cannot rollback'), log.includes('cannot rollback') ? 'found "cannot rollback - no transaction is active"' : 'none');
    const missed = missedEpisodes(summary.episodes, alerts.values());
    const dups = duplicateEpisodes(alerts.values());
    check('every scripted episode alarmed', missed.length === 0, missed.map((e) => `${e.deviceId} ${e.kind}`).join(', ') || `${summary.episodes.length} episodes`);
    check('no episode raised twice', dups.length === 0, dups.map((a) => a.kind).join(', ') || '0');

    demo.child.kill('SIGTERM');
    const code = await Promise.race([demo.exited, sleep(30_000).then(() => 'timeout' as const)]);
    check('the demo stops cleanly after the disk was full', code === 0, `exit ${code}`);
    for (const db of ['vitals.sqlite', 'registry.sqlite']) {
      const result = integrity(path.join(dataDir, db));
      check(`${db} passes PRAGMA integrity_check`, result === 'ok', result);
    }
    demo = startDemo(dataDir, await freePort(), await freePort(), '6-embedded-disk-demo-2.log');
    let restarted = true;
    await demo.ready().catch(() => { restarted = false; });
    check('the demo starts again on the same data folder', restarted, restarted ? 'running' : demo.log().slice(-300));
    demo.child.kill('SIGTERM');
    await demo.exited;
    demo = undefined;

    // Read-only data folder: the same (now complete) folder mounted read-only.
    const before = new Map(fs.readdirSync(dataDir).filter((f) => f.endsWith('.sqlite')).map((f) => [f, sha(path.join(dataDir, f))]));
    execFileSync('mount', ['--bind', dataDir, roMnt]);
    execFileSync('mount', ['-o', 'remount,bind,ro', roMnt]);
    const ro = spawn(CLI, ['demo', '--devices', '1', '--data-dir', roMnt, '--mqtt-port', '0', '--http-port', '0'], { env: { PATH: process.env.PATH, HOME: process.env.HOME }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    ro.stderr!.on('data', (d: Buffer) => { stderr += d.toString(); });
    ro.stdout!.resume();
    const roCode = await Promise.race([new Promise<number | null>((r) => ro.once('exit', (c) => r(c))), sleep(30_000).then(() => { ro.kill('SIGKILL'); return 'timeout' as const; })]);
    execFileSync('umount', [roMnt]);
    check('a read-only data folder stops the demo with one clear sentence', roCode === 1 && /read-only file system/.test(stderr) && stderr.trim().split('\n').length === 1,
      `exit ${roCode}: ${stderr.trim()}`);
    const after = new Map(fs.readdirSync(dataDir).filter((f) => f.endsWith('.sqlite')).map((f) => [f, sha(path.join(dataDir, f))]));
    check('the read-only attempt changed no database', JSON.stringify([...before]) === JSON.stringify([...after]), `${before.size} files compared`);

    notes.push(`2 devices × 50 s wall at speed ${speed}; disk (3 MiB tmpfs) full for ${((freedAt - fullAt) / 1000).toFixed(0)} s; embedded bus is in-process, so "bus" counts acknowledged frames; no EHR in this case`);
    const row: ReliabilityRow = {
      case: '6-embedded-disk',
      fault: 'embedded mode: disk full 15 s, then a read-only data folder',
      frames: { sent: sent.frames.size, acked: summary.framesAcked, onBus: summary.framesAcked, busCopies: 0, storeExpected: stored.total, storeFound: stored.found,
        lost: stored.total - stored.found + (sent.frames.size - summary.framesAcked), duplicated: 0 },
      alerts: { raised: alerts.size, atClinician: alerts.size, inEhr: 0, ehrExpected: 0, lost: 0, duplicated: dups.length, missedEpisodes: missed.length,
        falseSignalLoss: [...alerts.values()].filter((a) => a.kind === 'signal_loss' && Date.parse(a.onset) < summary.t0Ms + summary.durationMs - 1000).length },
      recoveryS, recoveryOf: 'store holds every point sent before the disk was freed', notes, checks, wallS: (Date.now() - wallStart) / 1000, finishedAt: new Date().toISOString(),
    };
    check('no patient signal_loss while the devices streamed', row.alerts.falseSignalLoss === 0, `${row.alerts.falseSignalLoss} signal_loss alerts`);
    writeRow(row);
    expect(checks.filter((c) => !c.ok)).toEqual([]);
  } finally {
    if (demo && demo.child.exitCode === null) { demo.child.kill('SIGKILL'); await demo.exited; }
    try { execFileSync('umount', [roMnt], { stdio: 'ignore' }); } catch { /* not mounted */ }
    try { execFileSync('umount', [mnt]); } catch { /* already */ }
    fs.rmSync(mnt, { recursive: true, force: true });
    fs.rmSync(roMnt, { recursive: true, force: true });
  }
});
