/** Security material: the local development PKI (CA, gateway and device certificates, CRL) and reading device CRLs. */
export * from './dev-pki.ts';
export * from './crl.ts';
