// A tiny HS256 signer for forging test tokens; no JWT dependency.
import { createHmac, timingSafeEqual } from "node:crypto";

export type JsonObject = Record<string, unknown>;

export interface DecodedJwt {
  header: JsonObject;
  payload: JsonObject;
}

function b64url(data: string | Buffer): string {
  return Buffer.from(data).toString("base64url");
}

function hs256(key: string | Buffer, signingInput: string): Buffer {
  return createHmac("sha256", key).update(signingInput).digest();
}

/** Decodes a compact JWS without verifying it. */
export function decodeJwt(token: string): DecodedJwt {
  const parts = token.split(".");
  if (parts.length !== 3) {
    throw new Error(`not a compact JWS: ${parts.length} parts`);
  }
  const [h, p] = parts as [string, string, string];
  return {
    header: JSON.parse(Buffer.from(h, "base64url").toString("utf8")) as JsonObject,
    payload: JSON.parse(Buffer.from(p, "base64url").toString("utf8")) as JsonObject,
  };
}

/** Signs header and payload with HS256. */
export function signJwt(header: JsonObject, payload: JsonObject, key: string | Buffer): string {
  const input = `${b64url(JSON.stringify(header))}.${b64url(JSON.stringify(payload))}`;
  return `${input}.${hs256(key, input).toString("base64url")}`;
}

/** Reports whether token carries a valid HS256 signature made with key. */
export function verifyJwt(token: string, key: string | Buffer): boolean {
  const i = token.lastIndexOf(".");
  const want = hs256(key, token.slice(0, i));
  const got = Buffer.from(token.slice(i + 1), "base64url");
  return got.length === want.length && timingSafeEqual(got, want);
}

/**
 * Copies a real token with its claims changed by `edit`, signed with `key`.
 * Keeps every header field and claim the server put in (typ, kid, iss, ...).
 */
export function reSignJwt(token: string, key: string | Buffer, edit: (payload: JsonObject) => void = () => {}): string {
  const { header, payload } = decodeJwt(token);
  edit(payload);
  return signJwt(header, payload, key);
}

/** A copy of token that expired an hour ago, validly signed with key. */
export function expiredCopy(token: string, key: string | Buffer): string {
  const now = Math.floor(Date.now() / 1000);
  return reSignJwt(token, key, (p) => {
    p.iat = now - 7200;
    p.nbf = now - 7200;
    p.exp = now - 3600;
  });
}
