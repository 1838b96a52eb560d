/** Security material: the local development PKI (CA, gateway and device certificates, CRL), reading device CRLs, and our clients' TLS files. */
export * from './dev-pki.ts';
export * from './crl.ts';
export * from './tls-files.ts';
