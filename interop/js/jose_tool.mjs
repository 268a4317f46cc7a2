// jose_tool.mjs: an independent JWT producer and consumer for the Go
// interop tests, built on npm's jose. It reads a JSON array of requests on
// stdin and writes a JSON array of results, in order, on stdout.
//
//   {"op":"sign","alg":"ES256","claims":{...},"secret":"<base64url, HS* only>",
//    "variants":[{"kid":true,"typ":"at+jwt"},{"kid":false}]}
//     -> {"kid":"...","jwks":{"keys":[...]} (null for HS*),"tokens":["...", ...]}
//   {"op":"verify","token":"...","jwksUrl":"http://127.0.0.1:.../jwks.json",
//    "algorithms":["ES256"],"issuer":"...","audience":"...","maxTokenAge":"10s"}
//     -> {"ok":true,"payload":{...},"header":{...}} or {"ok":false,"error":"..."}
import * as jose from 'jose';

const input = JSON.parse(await new Promise((resolve, reject) => {
  let data = '';
  process.stdin.setEncoding('utf8');
  process.stdin.on('data', (c) => { data += c; });
  process.stdin.on('end', () => resolve(data));
  process.stdin.on('error', reject);
}));

async function sign(req) {
  let key;
  let jwks = null;
  const kid = `jose-${req.alg.toLowerCase()}`;
  if (req.alg.startsWith('HS')) {
    key = jose.base64url.decode(req.secret);
  } else {
    const opts = { extractable: true };
    if (req.alg === 'EdDSA') opts.crv = 'Ed25519';
    const pair = await jose.generateKeyPair(req.alg, opts);
    key = pair.privateKey;
    const jwk = await jose.exportJWK(pair.publicKey);
    jwks = { keys: [{ ...jwk, kid, alg: req.alg, use: 'sig' }] };
  }
  const tokens = [];
  for (const v of req.variants) {
    const header = { alg: req.alg };
    if (v.typ) header.typ = v.typ;
    if (v.kid) header.kid = kid;
    tokens.push(await new jose.SignJWT(req.claims).setProtectedHeader(header).sign(key));
  }
  return { kid, jwks, tokens };
}

async function verify(req) {
  const keys = req.jwksUrl
    ? jose.createRemoteJWKSet(new URL(req.jwksUrl))
    : jose.base64url.decode(req.secret);
  const opts = { algorithms: req.algorithms, issuer: req.issuer, audience: req.audience };
  if (req.maxTokenAge) opts.maxTokenAge = req.maxTokenAge;
  if (req.typ) opts.typ = req.typ;
  try {
    const { payload, protectedHeader } = await jose.jwtVerify(req.token, keys, opts);
    return { ok: true, payload, header: protectedHeader };
  } catch (e) {
    return { ok: false, error: `${e.code ?? e.name}: ${e.message}` };
  }
}

const out = [];
for (const req of input) {
  out.push(req.op === 'sign' ? await sign(req) : await verify(req));
}
process.stdout.write(JSON.stringify(out));
