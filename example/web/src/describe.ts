/**
 * Turns a failed call into the text the page shows: the Connect code and
 * message, the example's custom ExpiredTokenError detail (Flask's
 * {status, title, detail}), connectjwt's AuthError reason, and the
 * WWW-Authenticate response header (readable cross-origin only because the
 * server exposes it through CORS).
 */
import { ConnectError } from "@connectrpc/connect";
import { timestampDate } from "@bufbuild/protobuf/wkt";
import { Reason, authErrorOf } from "@connectjwt/connectjwt";
import { ExpiredTokenErrorSchema } from "../../../ts/src/gen/example/v1/example_pb.js";

export function describeError(err: unknown): string {
  const ce = ConnectError.from(err);
  const lines = [ce.message];
  for (const expired of ce.findDetails(ExpiredTokenErrorSchema)) {
    lines.push(`${expired.title}: ${expired.detail} (status ${expired.status})`);
  }
  const ae = authErrorOf(ce);
  if (ae !== undefined) {
    let line = `AuthError: ${reasonName(ae.reason)}`;
    if (ae.expiredAt !== undefined) {
      line += `, expired at ${timestampDate(ae.expiredAt).toISOString()}`;
    }
    if (ae.missingScopes.length > 0) {
      line += `, missing scopes ${ae.missingScopes.join(" ")}`;
    }
    lines.push(line);
  } else if (ce.cause instanceof TypeError) {
    // fetch() rejects with a TypeError when the browser blocks a response,
    // for example a cross-origin call from an origin the server does not allow.
    lines.push(`network or CORS failure: ${ce.cause.message}`);
  }
  const challenge = ce.metadata.get("WWW-Authenticate");
  if (challenge !== null) {
    lines.push(`WWW-Authenticate: ${challenge}`);
  }
  return lines.join("\n");
}

/** "REASON_EXPIRED" for Reason.EXPIRED, as in the proto and the Go code. */
export function reasonName(reason: Reason): string {
  const name = Reason[reason];
  return name === undefined ? `REASON_${reason}` : `REASON_${name}`;
}
