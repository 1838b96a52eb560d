/**
 * Public surface of the dashboard API component, for the CLI (`pulsebridge dashboard-api`,
 * `pulsebridge demo`, `pulsebridge token`). Embedded mode wiring:
 *
 *   const api = createDashboardApi({
 *     bus, vitalsStore, logger, metrics,
 *     patients: registryPatientDirectory(registry),
 *     auth: await createTokenVerifier({ dataDir: config.dataDir, oidc: config.dashboard.oidc }),
 *     audit: new JsonlAuditSink({ dataDir: config.dataDir }),
 *   });
 *   const { url } = await api.listen(config.dashboard.httpPort, config.bindHost);
 *   …
 *   await api.close();
 *
 * Token command: `(await openDevIssuer({ dataDir })).issueToken({ sub, role, patients, ttlSeconds })`.
 */
export { createDashboardApi } from './server.ts';
export type { DashboardApi, DashboardApiOptions, ListeningAddress } from './server.ts';
export { DEV_AUDIENCE, DEV_ISSUER, DEV_MAX_TTL_SECONDS, devIssuerKeyPath, openDevIssuer, ROLES } from './dev-issuer.ts';
export type { DevIssuer, DevIssuerOptions, IssueTokenInput, Role } from './dev-issuer.ts';
export { canAccessPatient, createDevTokenVerifier, createOidcTokenVerifier, createTokenVerifier } from './auth.ts';
export type { OidcVerifierOptions, Principal, TokenVerifier } from './auth.ts';
export { auditLogPath, JsonlAuditSink } from './audit.ts';
export type { AuditEntry, AuditSink } from './audit.ts';
export { DEMO_MRN_SYSTEM, demoPatientIdentity, registryPatientDirectory, staticPatientDirectory } from './patient-directory.ts';
export type { Mrn, Patient, PatientDirectory, PatientIdentity, StaticPatient } from './patient-directory.ts';
export { AlertProjection } from './alert-projection.ts';
export type { AlertEvent, AlertQuery } from './alert-projection.ts';
