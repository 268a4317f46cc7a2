// Package web holds the example's browser page, built by
// `npm run build --prefix example/web` into dist/ and committed (CI checks
// it is fresh), so the example servers serve it without Node.js.
package web

import "embed"

// Dist is the built page: dist/index.html and dist/assets/.
//
//go:embed dist
var Dist embed.FS
