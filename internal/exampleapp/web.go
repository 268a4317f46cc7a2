package exampleapp

import (
	"html/template"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"strings"

	"github.com/connectjwt/connectjwt/example/web"
)

// DefaultWebDir, empty, serves the page built into the binary
// (example/web's [web.Dist]); -web-dir serves one from disk instead (say,
// after rebuilding it).
const DefaultWebDir = ""

// webPageCSP allows the page only its own scripts, styles and API calls.
const webPageCSP = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
	"connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

// WithWebPage serves the browser page (index.html at /, its files under
// /assets/) next to api, which gets every other request. The page is the
// built-in one when dir is empty, else the one in dir. When dir has no
// index.html, / answers with a short page that says how to build it; the
// API works either way. dir is looked at on every request, so a page built
// while the server runs shows up on reload.
func WithWebPage(api http.Handler, dir string) http.Handler {
	fsys := os.DirFS(dir)
	if dir == "" {
		sub, err := fs.Sub(web.Dist, "dist")
		if err != nil {
			panic(err) //nolint:forbidigo // cannot happen: the embed pattern above names this directory
		}
		fsys = sub
	}
	page := &webPage{dir: dir, fsys: fsys, files: http.FileServerFS(fsys)}
	mux := http.NewServeMux()
	mux.Handle("/", api)
	mux.Handle("GET /{$}", page)
	mux.Handle("GET /assets/", page)
	return mux
}

type webPage struct {
	dir   string // for the notice; "" for the built-in page
	fsys  fs.FS
	files http.Handler
}

func (p *webPage) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Content-Security-Policy", webPageCSP)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Cache-Control", "no-cache")
	if _, err := fs.Stat(p.fsys, "index.html"); err != nil {
		if r.URL.Path != "/" {
			http.NotFound(w, r)
			return
		}
		p.notice(w)
		return
	}
	if r.URL.Path != "/" && strings.HasSuffix(r.URL.Path, "/") {
		http.NotFound(w, r) // no directory listings
		return
	}
	p.files.ServeHTTP(w, r)
}

//nolint:gochecknoglobals // parsed once, read-only
var noticeTemplate = template.Must(template.New("notice").Parse(`<!doctype html>
<html lang="en">
<meta charset="utf-8">
<title>connectjwt example</title>
<h1>connectjwt example</h1>
<p>The API is running (Connect, gRPC and gRPC-web). The browser page is not built:
there is no <code>{{.Dir}}/index.html</code>.</p>
<p>Build it (needs Node.js and npm) from the repository root, then reload:</p>
<pre>{{.Build}}</pre>
<p>or point <code>-web-dir</code> at a built page.</p>
</html>
`))

func (p *webPage) notice(w http.ResponseWriter) {
	dir := p.dir
	if abs, err := filepath.Abs(dir); err == nil {
		dir = abs
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	_ = noticeTemplate.Execute(w, struct{ Dir, Build string }{
		Dir:   dir,
		Build: "npm ci --prefix example/web && npm run build --prefix example/web",
	})
}
