/** CPU-time helpers of the per-second-of-ECG benchmarks (bench/qrs-detector.ts, bench/af-ecg.ts). */

/** CPU time (user + system) of one call, µs. */
export function cpuUs(f: () => void): number {
  const t = process.cpuUsage();
  f();
  const d = process.cpuUsage(t);
  return d.user + d.system;
}

/** Best of 3 calls (the machine is shared), µs. */
export const bestCpuUs = (f: () => void): number => Math.min(cpuUs(f), cpuUs(f), cpuUs(f));
