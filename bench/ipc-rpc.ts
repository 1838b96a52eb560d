/**
 * Request/response over the Node IPC channel between the benchmark and its child processes
 * (server under test, load generator). `advanced` serialization so Buffers cross as Buffers.
 */
import { fork, type ChildProcess } from 'node:child_process';

interface Request { id: number; method: string; params: unknown }
interface Response { id: number; result?: unknown; error?: string }

export type Handlers = Record<string, (params: never) => Promise<unknown> | unknown>;

/** Child side: answers requests until the parent goes away, then exits. */
export function serveRpc(handlers: Handlers): void {
  if (!process.send) throw new Error('this script is started by bench/gateway-throughput.ts, not directly');
  process.on('message', (raw) => {
    const req = raw as Request;
    const handler = handlers[req.method] as ((params: unknown) => unknown) | undefined;
    Promise.resolve()
      .then(() => {
        if (!handler) throw new Error(`unknown method ${req.method}`);
        return handler(req.params);
      })
      .then(
        (result) => process.send!({ id: req.id, result } satisfies Response),
        (err: unknown) => process.send!({ id: req.id, error: err instanceof Error ? err.stack ?? err.message : String(err) } satisfies Response),
      );
  });
  // The benchmark must stop by itself: a child whose parent died does not linger.
  process.on('disconnect', () => process.exit(0));
}

/** Parent side: one forked child and its calls. */
export class RpcChild {
  readonly #child: ChildProcess;
  readonly #pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
  #nextId = 1;
  #exited: Promise<void>;

  constructor(script: string, execArgv: string[] = []) {
    this.#child = fork(script, [], { execArgv, serialization: 'advanced', stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    this.#child.on('message', (raw) => {
      const res = raw as Response;
      const p = this.#pending.get(res.id);
      if (!p) return;
      this.#pending.delete(res.id);
      if (res.error !== undefined) p.reject(new Error(`${script}: ${res.error}`));
      else p.resolve(res.result);
    });
    this.#exited = new Promise((resolve) => {
      this.#child.on('exit', (code, signal) => {
        for (const p of this.#pending.values()) p.reject(new Error(`${script} exited (code ${code}, signal ${signal})`));
        this.#pending.clear();
        resolve();
      });
    });
  }

  get pid(): number | undefined { return this.#child.pid; }

  call<T>(method: string, params: unknown = {}): Promise<T> {
    const id = this.#nextId++;
    return new Promise<T>((resolve, reject) => {
      this.#pending.set(id, { resolve: resolve as (v: unknown) => void, reject });
      this.#child.send({ id, method, params } satisfies Request);
    });
  }

  /** Closes the IPC channel (the child exits on disconnect) and waits for the exit. */
  async close(): Promise<void> {
    if (this.#child.connected) this.#child.disconnect();
    const timer = setTimeout(() => this.#child.kill('SIGKILL'), 5_000);
    await this.#exited;
    clearTimeout(timer);
  }
}
