/**
 * Business identifiers for conditional create (fhir-and-alarms.md §3): a re-delivered alert maps
 * to the same identifier, so `If-None-Exist: identifier=…` finds the resource made the first time.
 *
 * Deliberate difference from §3, which writes the value as `{deviceId}|{mdcCode}|{start}`:
 * 1. The separator is `/`, not `|`. `|` separates system and value in a token search, and a
 *    value containing it does not match on @medplum/fhir-router's repository even when escaped
 *    as `\|` (R4 search §3.1.1.5.11 "Escaping"): every re-delivery then creates a duplicate
 *    (test/ehr-exporter/fhir-client.test.ts shows it). `/` occurs in none of the parts (device ids
 *    are `[A-Za-z0-9._-]`, codes are digits or fixed words, ISO instants use `-:.TZ`), so the value
 *    stays unambiguous and needs no escaping on any server.
 * 2. The alert kind is part of the value. Two detectors can fire at the same onset on one device
 *    (asystole and pause start at the same last beat; brady and extreme_brady share a rhythm
 *    code), and one identifier for both would silently drop the second as "already exists".
 * The end of the episode is never part of the identifier: it is filled in later by an update.
 */
import type { AlertKind } from '../contracts/alert.ts';
import type { Identifier } from './fhir-types.ts';

export const IDENTIFIER_SEPARATOR = '/';

/**
 * `{deviceId}/{code}/{kind}/{startInstant}`, e.g. `patch-0001/184327/vt/2026-01-01T00:00:03.000Z`.
 * @param code - the resource's code slot: the MDC Observation code, or `notification` for a Communication.
 * @param startInstant - the normalised ISO 8601 instant (`Date#toISOString`) of the episode start.
 */
export function businessIdentifier(system: string, deviceId: string, code: string, kind: AlertKind, startInstant: string): Identifier {
  return { system, value: [deviceId, code, kind, startInstant].join(IDENTIFIER_SEPARATOR) };
}

/**
 * Normalises an ISO 8601 time to `YYYY-MM-DDTHH:mm:ss.sssZ`, so that the same instant written with
 * another offset or precision still yields the same identifier. Throws RangeError on a bad time.
 */
export function toInstant(iso: string, field: string): string {
  const ms = Date.parse(iso);
  if (!Number.isFinite(ms)) throw new RangeError(`${field} is not an ISO 8601 time: ${JSON.stringify(iso)}`);
  return new Date(ms).toISOString();
}
