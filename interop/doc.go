// Package interop holds connectjwt's interoperability tests: tokens and JWK
// Sets made by independent, widely used libraries (npm's jose, Debian's
// PyJWT and jwcrypto) checked by the real interceptor over HTTP/2, the
// library's own tokens and JWK Set verified by those libraries, and a real
// flask-jwt-simple service beside the Go interceptor. The tests drive
// js/jose_tool.mjs and py/*.py with node and python3; .ci/interop.sh
// installs them.
package interop
