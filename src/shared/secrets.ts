// Bearer secrets and ids: random, URL-safe, and stored only as sha256 hashes.
import { sha256Hex } from './fingerprint.js';

const base64url = (bytes: Uint8Array) =>
  btoa(String.fromCharCode(...bytes))
    .replace(/\+/g, '-')
    .replace(/\//g, '_')
    .replace(/=+$/, '');

/**
 * A new secret with a readable prefix (32 random bytes).
 *
 * @example
 * generateSecret('hs_key'); // "hs_key_Q2xhc3NpZnkgYWxsIHRoZSB0aGluZ3MhISEhISEhISEhIQ"
 */
export function generateSecret(prefix: 'hs_key' | 'hs_worker' | 'hs_admin'): string {
  return `${prefix}_${base64url(crypto.getRandomValues(new Uint8Array(32)))}`;
}

/** The only form in which a secret is stored. */
export function hashSecret(secret: string): Promise<string> {
  return sha256Hex(new TextEncoder().encode(secret));
}

/** A new opaque id with a readable prefix, e.g. `job_…`. */
export function newId(prefix: 'ten' | 'ds' | 'job' | 'batch' | 'key' | 'wtk' | 'adm'): string {
  return `${prefix}_${base64url(crypto.getRandomValues(new Uint8Array(12)))}`;
}
