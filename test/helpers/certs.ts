/** A throwaway certificate authority and a server certificate for 127.0.0.1/localhost (openssl). */
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export interface TestCertificates {
  dir: string;
  caFile: string;
  certFile: string;
  keyFile: string;
  /** Key and certificate in one PEM file, as Kafka's PEM keystore wants them. */
  keystorePem: string;
}

export function makeCertificates(dir: string): TestCertificates {
  mkdirSync(dir, { recursive: true });
  const path = (name: string) => join(dir, name);
  const openssl = (...args: string[]) => execFileSync('openssl', args, { stdio: 'pipe' });
  openssl('req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '2', '-subj', '/CN=login-pipeline test CA', '-keyout', path('ca.key'), '-out', path('ca.pem'));
  openssl('req', '-newkey', 'rsa:2048', '-nodes', '-subj', '/CN=localhost', '-keyout', path('server.key'), '-out', path('server.csr'));
  writeFileSync(path('san.ext'), 'subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n');
  openssl('x509', '-req', '-in', path('server.csr'), '-CA', path('ca.pem'), '-CAkey', path('ca.key'), '-CAcreateserial', '-days', '2', '-extfile', path('san.ext'), '-out', path('server.pem'));
  // PKCS#8, unencrypted, then the certificate chain.
  openssl('pkcs8', '-topk8', '-nocrypt', '-in', path('server.key'), '-out', path('server.pk8'));
  writeFileSync(path('keystore.pem'), `${readFileSync(path('server.pk8'), 'utf8')}${readFileSync(path('server.pem'), 'utf8')}${readFileSync(path('ca.pem'), 'utf8')}`);
  return { dir, caFile: path('ca.pem'), certFile: path('server.pem'), keyFile: path('server.key'), keystorePem: path('keystore.pem') };
}
