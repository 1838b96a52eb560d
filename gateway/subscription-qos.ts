/**
 * The QoS granted to a device's subscription is at most the QoS its commands are sent with
 * (device-protocol.md "Topics": `cmd` is QoS 1), so the SUBACK says what the gateway will deliver
 * (firmware walk of 2026-12-07: a QoS 2 subscription was granted QoS 2 and got QoS 1 commands).
 * MQTT 3.1.1 §3.9.3 lets the server grant a lower QoS than the one requested; the device then
 * knows it gets PUBLISH/PUBACK, not the PUBREC/PUBREL exchange.
 *
 * Why on the parser. aedes 1.2 takes the granted QoS from the SUBSCRIBE packet as parsed, before
 * `authorizeSubscribe` runs (lib/handlers/subscribe.js `doSubscribe`: `new SubState(…, sub.qos, …)`),
 * and writes only a refusal (0x80) over it; a subscription returned by `authorizeSubscribe` with a
 * lower QoS changes what is stored, not the SUBACK. So the requested QoS is lowered on the parsed
 * packet, in a listener that runs before aedes' own (`prependListener`): aedes then grants, stores
 * and reports (the 'subscribe' event) that QoS. The parser field is internal to aedes' Client.
 */
import type { Client } from 'aedes';

/** The QoS commands are published with (device-protocol.md "Topics"). */
export const COMMAND_QOS = 1;

interface ParsedPacket { cmd?: string; subscriptions?: { qos: number }[] }
interface ParserInternals { prependListener(event: 'packet', listener: (packet: ParsedPacket) => void): unknown }

/**
 * Lowers every requested QoS above {@link COMMAND_QOS} in `client`'s SUBSCRIBE packets before
 * aedes handles them.
 */
export function grantAtMostCommandQos(client: Client): void {
  const parser = (client as unknown as { _parser?: ParserInternals })._parser;
  if (typeof parser?.prependListener !== 'function') {
    throw new Error('aedes client internals changed: the subscription QoS cap cannot be installed');
  }
  parser.prependListener('packet', (packet) => {
    if (packet.cmd !== 'subscribe' || !packet.subscriptions) return;
    for (const s of packet.subscriptions) {
      if (s.qos > COMMAND_QOS) s.qos = COMMAND_QOS;
    }
  });
}
