/** Waiting helpers for tests that drive separate processes and servers. */
import net from 'node:net';

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Polls `probe` every 100 ms until it returns something other than undefined; throws after `timeoutMs`. */
export async function waitFor<T>(what: string, probe: () => T | undefined | Promise<T | undefined>, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(100);
  }
}

const servicePortsGiven = new Set<number>();

/**
 * A TCP port free on the loopback interface right now, below the kernel's ephemeral range
 * (32768–60999 by default), for a service a script starts seconds later (the bench's own Kafka and
 * InfluxDB). A port from {@link freePort} lies in that range, where anything on the machine may
 * listen on port 0 in the meantime and be given it: CI on 2026-12-07 found its InfluxDB port
 * "taken by something that does not answer InfluxDB's /ping" while other tests ran. Ports below
 * the range are only ever taken by name, like the fault suite's fixed ones (29092, 28086).
 */
export async function freeServicePort(from = 20_000, to = 32_000): Promise<number> {
  for (let attempt = 0; attempt < 200; attempt++) {
    const port = from + Math.floor(Math.random() * (to - from));
    // (Not one handed out already: its service may not listen yet.)
    if (servicePortsGiven.has(port)) continue;
    const server = net.createServer();
    const ok = await new Promise<boolean>((r) => { server.once('error', () => r(false)); server.listen(port, '127.0.0.1', () => r(true)); });
    if (ok) { await new Promise<void>((r) => server.close(() => r())); servicePortsGiven.add(port); return port; }
  }
  throw new Error(`no free port in ${from}–${to} on 127.0.0.1`);
}

/** A TCP port free on the loopback interface right now (for a child process to listen on). */
export async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const { port } = server.address() as net.AddressInfo;
  await new Promise<void>((r) => server.close(() => r()));
  return port;
}
