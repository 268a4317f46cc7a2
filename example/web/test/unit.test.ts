// Unit tests of the page's pure parts, in Node.
import assert from "node:assert/strict";
import { test } from "node:test";
import { create, toBinary } from "@bufbuild/protobuf";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError } from "@connectrpc/connect";
import { AuthErrorSchema, Reason } from "@connectjwt/connectjwt";
import { ExpiredTokenErrorSchema } from "../../../ts/src/gen/example/v1/example_pb.js";
import { resolveApiBase } from "../src/api.js";
import { describeError, reasonName } from "../src/describe.js";

test("resolveApiBase: the page's own origin by default", () => {
  assert.deepEqual(resolveApiBase("http://127.0.0.1:8080/"), { baseUrl: "http://127.0.0.1:8080" });
  assert.deepEqual(resolveApiBase("http://127.0.0.1:8080/?api="), { baseUrl: "http://127.0.0.1:8080" });
});

test("resolveApiBase: ?api= with a loopback origin", () => {
  for (const api of ["http://127.0.0.1:9000", "http://localhost:9000/", "https://[::1]:9443"]) {
    const got = resolveApiBase(`http://127.0.0.1:5173/?api=${encodeURIComponent(api)}`);
    assert.equal(got.baseUrl, new URL(api).origin, api);
    assert.equal(got.warning, undefined, api);
  }
});

test("resolveApiBase: other ?api= values are ignored with a warning", () => {
  for (const api of [
    "https://attacker.example",
    "http://127.0.0.2:9000",
    "javascript:alert(1)",
    "http://127.0.0.1:9000/prefix",
    "http://u:p@127.0.0.1:9000",
    "not a url",
  ]) {
    const got = resolveApiBase(`http://127.0.0.1:5173/?api=${encodeURIComponent(api)}`);
    assert.equal(got.baseUrl, "http://127.0.0.1:5173", api);
    assert.ok(got.warning?.startsWith("ignored ?api="), api);
  }
});

test("describeError: the example's expired detail, the AuthError reason and WWW-Authenticate", () => {
  const expiredAt = new Date("2026-11-28T22:38:55Z");
  const err = new ConnectError("The JWT has expired", Code.Unauthenticated, { "WWW-Authenticate": 'Bearer error="invalid_token"' }, [
    { desc: ExpiredTokenErrorSchema, value: { status: 401, title: "Expired JWT", detail: "The JWT has expired" } },
    { desc: AuthErrorSchema, value: { reason: Reason.EXPIRED, message: "The JWT has expired", expiredAt: timestampFromDate(expiredAt) } },
  ]);
  assert.equal(
    describeError(err),
    [
      "[unauthenticated] The JWT has expired",
      "Expired JWT: The JWT has expired (status 401)",
      "AuthError: REASON_EXPIRED, expired at 2026-11-28T22:38:55.000Z",
      'WWW-Authenticate: Bearer error="invalid_token"',
    ].join("\n"),
  );
});

test("describeError: details as they arrive on the wire, and missing scopes", () => {
  const ae = create(AuthErrorSchema, { reason: Reason.INSUFFICIENT_SCOPE, missingScopes: ["admin", "write"] });
  const err = new ConnectError("missing scopes", Code.PermissionDenied);
  err.details.push({ type: AuthErrorSchema.typeName, value: toBinary(AuthErrorSchema, ae) });
  assert.equal(describeError(err), "[permission_denied] missing scopes\nAuthError: REASON_INSUFFICIENT_SCOPE, missing scopes admin write");
});

test("describeError: a blocked or failed fetch", () => {
  const err = new ConnectError("Failed to fetch", Code.Unknown, undefined, undefined, new TypeError("Failed to fetch"));
  assert.equal(describeError(err), "[unknown] Failed to fetch\nnetwork or CORS failure: Failed to fetch");
});

test("reasonName", () => {
  assert.equal(reasonName(Reason.MISSING), "REASON_MISSING");
  assert.equal(reasonName(99 as Reason), "REASON_99");
});
