package connectjwt

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/MicahParks/jwkset"
)

// DefaultJWKSMaxAge is how long clients and caches may keep the JWK Set that
// [Issuer.JWKSHandler] serves (its Cache-Control max-age).
const DefaultJWKSMaxAge = 5 * time.Minute

// JWKSHandler returns an [http.Handler] that publishes the issuer's public
// keys as a JWK Set (RFC 7517), conventionally mounted at
// /.well-known/jwks.json:
//
//	mux.Handle("/.well-known/jwks.json", issuer.JWKSHandler())
//
// Services that verify the issuer's tokens point [WithJWKS] at it, so no
// secret is shared. Every configured asymmetric key ([WithKey] with an RSA,
// ECDSA or Ed25519 key, private or public) is listed with kty, kid, alg,
// use "sig" and its public parameters only; HMAC secrets are never
// published, and an issuer that has only HMAC keys serves an empty set.
//
// Rotation: the issuer signs with its last signing key and the set lists
// every configured key, so add the new key (it is published and verifies at
// once), and remove the old one only once the tokens it signed have expired.
// Verifiers that use [WithJWKS] also fetch the set again when they meet a
// kid they do not know.
//
// The set is built once: the handler answers GET and HEAD with
// Content-Type application/jwk-set+json, Cache-Control public and a max-age
// of [DefaultJWKSMaxAge], a strong ETag (answering If-None-Match with 304)
// and Access-Control-Allow-Origin "*" (the keys are public); other methods
// get 405.
func (is *Issuer) JWKSHandler() http.Handler {
	h := &jwksHandler{maxAge: DefaultJWKSMaxAge}
	var keys []*boundKey
	if is != nil && is.validator != nil {
		keys = is.validator.static.all
	}
	body, err := publicJWKS(keys)
	if err != nil {
		h.err = err
		return h
	}
	sum := sha256.Sum256(body)
	h.body = body
	h.etag = `"` + base64.RawURLEncoding.EncodeToString(sum[:16]) + `"`
	return h
}

type jwksHandler struct {
	body   []byte
	etag   string
	maxAge time.Duration
	err    error // a key jwkset could not marshal; answered with 500
}

func (h *jwksHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	if h.err != nil {
		http.Error(w, "key set unavailable", http.StatusInternalServerError)
		return
	}
	hdr := w.Header()
	hdr.Set("Cache-Control", "public, max-age="+strconv.Itoa(int(h.maxAge/time.Second)))
	hdr.Set("ETag", h.etag)
	hdr.Set("Access-Control-Allow-Origin", "*")
	hdr.Set("X-Content-Type-Options", "nosniff")
	// ServeContent handles If-None-Match (304) and HEAD.
	hdr.Set("Content-Type", "application/jwk-set+json")
	http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(h.body))
}

// publicJWKS marshals the public halves of the asymmetric keys, with jwkset.
func publicJWKS(keys []*boundKey) ([]byte, error) {
	set := jwkset.JWKSMarshal{Keys: []jwkset.JWKMarshal{}}
	for _, key := range keys {
		if _, secret := key.verify.([]byte); secret {
			continue // never publish an HMAC secret
		}
		// jwkset knows Ed25519 keys only under EdDSA: marshal them so,
		// then name the algorithm the key is bound to (RFC 9864).
		alg := jwkset.ALG(key.alg)
		if key.alg == algEd25519 {
			alg = jwkset.AlgEdDSA
		}
		jwk, err := jwkset.NewJWKFromKey(key.verify, jwkset.JWKOptions{
			Metadata: jwkset.JWKMetadataOptions{ALG: alg, KID: key.id, USE: jwkset.UseSig},
		})
		if err != nil {
			return nil, fmt.Errorf("connectjwt: publishing key %q: %w", key.id, err)
		}
		m := jwk.Marshal()
		m.ALG = jwkset.ALG(key.alg)
		set.Keys = append(set.Keys, m)
	}
	return json.Marshal(set)
}

// hmacKeyIDLabel is MAC'd under an HMAC secret to derive its key ID.
const hmacKeyIDLabel = "connectjwt key id v1"

// autoKeyID derives the ID of a key that has none (see [Key.ID]): the
// RFC 7638 thumbprint of a public key, or for an HMAC secret the first 16
// bytes of HMAC-SHA256(secret, label), base64url. It returns "" if the key
// cannot be marshaled, which bindKey's checks already rule out.
func autoKeyID(verify any) string {
	if secret, ok := verify.([]byte); ok {
		mac := hmac.New(sha256.New, secret)
		mac.Write([]byte(hmacKeyIDLabel))
		return base64.RawURLEncoding.EncodeToString(mac.Sum(nil)[:16])
	}
	tp, err := thumbprint(verify)
	if err != nil {
		return ""
	}
	return tp
}

// thumbprint returns the RFC 7638 JWK thumbprint (SHA-256) of a public key:
// the hash of its required members, in lexicographic order, without
// whitespace.
func thumbprint(pub any) (string, error) {
	jwk, err := jwkset.NewJWKFromKey(pub, jwkset.JWKOptions{Validate: jwkset.JWKValidateOptions{SkipMetadata: true}})
	if err != nil {
		return "", err
	}
	meta := jwk.Marshal()
	var members any
	switch meta.KTY {
	case jwkset.KtyRSA:
		members = struct {
			E   string `json:"e"`
			KTY string `json:"kty"`
			N   string `json:"n"`
		}{meta.E, string(meta.KTY), meta.N}
	case jwkset.KtyEC:
		members = struct {
			CRV string `json:"crv"`
			KTY string `json:"kty"`
			X   string `json:"x"`
			Y   string `json:"y"`
		}{string(meta.CRV), string(meta.KTY), meta.X, meta.Y}
	case jwkset.KtyOKP:
		members = struct {
			CRV string `json:"crv"`
			KTY string `json:"kty"`
			X   string `json:"x"`
		}{string(meta.CRV), string(meta.KTY), meta.X}
	default:
		return "", errors.New("connectjwt: no thumbprint for this key type")
	}
	raw, err := json.Marshal(members)
	if err != nil {
		return "", err
	}
	sum := sha256.Sum256(raw)
	return base64.RawURLEncoding.EncodeToString(sum[:]), nil
}
