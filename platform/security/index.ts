/** Security material for development: the local PKI (CA, gateway and device certificates). */
export * from './dev-pki.ts';
