import { execFileSync } from 'node:child_process';
import { join } from 'node:path';

export interface CertPair {
  certFile: string;
  keyFile: string;
}

/** A self-signed certificate for 127.0.0.1 (CN and IP SAN), the way an operator would make one with openssl. */
export function makeCert(dir: string, name: string): CertPair {
  const certFile = join(dir, `${name}.crt`);
  const keyFile = join(dir, `${name}.key`);
  execFileSync(
    'openssl',
    ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1', '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1', '-keyout', keyFile, '-out', certFile],
    { stdio: 'ignore' },
  );
  return { certFile, keyFile };
}

