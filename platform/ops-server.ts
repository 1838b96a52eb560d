/**
 * A standalone process's operations endpoint: `GET /healthz` (the component's health object) and
 * `GET /metrics` (Prometheus). No token: it is meant for the orchestrator's probes on the pod
 * network, so what `health` returns must carry no PHI beyond our internal patient ids. Used by the
 * ehr-exporter (PULSEBRIDGE_EHR_HTTP_PORT: ok, degraded or paused with the reason — its reasons name a FHIR
 * request without its query values and a patient by our id, never by MRN; `/healthz` answers 200
 * while paused, a paused exporter is alive and waiting for the EHR) and by a standalone gateway or
 * processor (PULSEBRIDGE_OPS_PORT, cli/main.ts).
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { MetricsRegistry } from './metrics.ts';

export interface OpsServer {
  url: string;
  close(): Promise<void>;
}

export async function startOpsServer(o: { port: number; host: string; health: () => object; metrics: MetricsRegistry }): Promise<OpsServer> {
  const server = http.createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (req.method !== 'GET') {
      res.writeHead(405, { allow: 'GET' }).end();
    } else if (path === '/healthz') {
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(o.health()));
    } else if (path === '/metrics') {
      res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4; charset=utf-8' }).end(o.metrics.render());
    } else {
      res.writeHead(404).end();
    }
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(o.port, o.host, () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://${o.host.includes(':') ? `[${o.host}]` : o.host}:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
