/**
 * Device-time pacing shared by the simulator and the replay: a frame is sent when the device
 * clock has passed the end of its window, and the device clock runs `speed` times faster than
 * the wall clock.
 */
import { PulsebridgeError } from '../platform/errors.ts';

/** `speed` × real time, or `'max'`: as fast as acknowledgements allow. */
export type SimSpeed = number | 'max';

/** Checks a speed value. */
export function validateSpeed(speed: SimSpeed): void {
  if (speed !== 'max' && !(typeof speed === 'number' && Number.isFinite(speed) && speed > 0)) {
    throw new PulsebridgeError('PB_SIM_FAILED', `Speed must be a positive number or "max", got ${String(speed)}.`);
  }
}

/** Resolves after `ms` (immediately when ≤ 0), or early when `signal` aborts. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  if (ms <= 0 || signal?.aborted) return Promise.resolve();
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal?.addEventListener('abort', done, { once: true });
  });
}

/**
 * Waits until a frame whose window ends `deviceElapsedMs` after the device's start is due:
 * wall start + deviceElapsedMs / speed. No wait at `'max'`.
 */
export function waitUntilDue(wallStartMs: number, deviceElapsedMs: number, speed: SimSpeed, now: () => number, signal?: AbortSignal): Promise<void> {
  if (speed === 'max') return Promise.resolve();
  return sleep(wallStartMs + deviceElapsedMs / speed - now(), signal);
}
