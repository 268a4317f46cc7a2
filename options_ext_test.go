package connectjwt_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// misplacedOptions are options given to a constructor they do not apply to;
// each must be a compile error that names the option.
func misplacedOptions() []struct{ call, option string } {
	return []struct{ call, option string }{
		{`connectjwt.NewIssuer(connectjwt.WithLeeway(time.Second))`, "WithLeeway"},
		{`connectjwt.NewIssuer(connectjwt.WithPublicProcedures("/a.v1.S/M"))`, "WithPublicProcedures"},
		{`connectjwt.NewIssuer(connectjwt.WithJWKS("https://i", "https://i/jwks"))`, "WithJWKS"},
		{`connectjwt.NewIssuer(connectjwt.WithCacheSize(0))`, "WithCacheSize"},
		{`connectjwt.NewIssuer(connectjwt.WithExpiredTokenLoader(nil))`, "WithExpiredTokenLoader"},
		{`connectjwt.NewValidator(connectjwt.WithTokenLifetimes(time.Minute, time.Hour))`, "WithTokenLifetimes"},
		{`connectjwt.NewValidator(connectjwt.WithExtraClaims(nil))`, "WithExtraClaims"},
		{`connectjwt.NewValidator(connectjwt.WithUnauthorizedLoader(nil))`, "WithUnauthorizedLoader"},
		{`connectjwt.NewInterceptor(nil, connectjwt.WithLeeway(time.Second))`, "WithLeeway"},
		{`connectjwt.NewInterceptor(nil, connectjwt.WithKey(connectjwt.HMACKey(nil)))`, "WithKey"},
		{`connectjwt.WithOptions(connectjwt.WithLeeway(time.Second))`, "WithLeeway"},
		{`connectjwt.WithOptions(connectjwt.WithTokenLifetimes(time.Minute, time.Hour))`, "WithTokenLifetimes"},
	}
}

// A misplaced option does not compile; shared options compile in both
// constructors and in WithOptions.
func TestOptionPlacementIsTyped(t *testing.T) {
	t.Parallel()
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("the go command is needed to check compile errors: %v", err)
	}
	// Inside the module, so the package resolves without network; testdata
	// keeps it out of ./... patterns.
	dir, err := os.MkdirTemp("testdata", "compilecheck") //nolint:usetesting // inside the module on purpose (see above); t.TempDir is not
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	build := func(name, src string) (string, error) {
		pkg := filepath.Join(dir, name)
		if err := os.MkdirAll(pkg, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(pkg, "main.go"), []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
		out, err := exec.CommandContext(context.Background(), goTool, "build", "-gcflags=-e", "-o", os.DevNull, "./"+filepath.ToSlash(pkg)).CombinedOutput()
		return string(out), err
	}
	const header = "package main\n\nimport (\n\t\"time\"\n\n\t\"github.com/connectjwt/connectjwt\"\n)\n\nvar _ = time.Second\n\n"

	var bad strings.Builder
	bad.WriteString(header)
	for i, m := range misplacedOptions() {
		fmt.Fprintf(&bad, "func f%d() { ignore(%s) }\n", i, m.call)
	}
	bad.WriteString("func ignore(...any) {}\n\nfunc main() {}\n")
	out, err := build("misplaced", bad.String())
	if err == nil {
		t.Fatalf("misplaced options compiled:\n%s", bad.String())
	}
	lines := strings.Split(out, "\n")
	for i, m := range misplacedOptions() {
		line := strings.Count(header, "\n") + i + 1
		found := false
		for _, l := range lines {
			if strings.Contains(l, fmt.Sprintf("main.go:%d:", line)) && strings.Contains(l, m.option) &&
				strings.Contains(l, "does not implement connectjwt.") {
				found = true
			}
		}
		if !found {
			t.Errorf("%s: no compile error naming %s on line %d:\n%s", m.call, m.option, line, out)
		}
	}

	good := header + `func main() {
	shared := connectjwt.WithOptions(
		connectjwt.WithKey(connectjwt.HMACKey([]byte("an example secret of at least 32 bytes!"))),
		connectjwt.WithIssuer("https://api.example.com"),
		connectjwt.WithAudience("api"),
		connectjwt.WithIdentityClaim("sub"),
		connectjwt.WithClock(time.Now),
		connectjwt.WithTokenTypes("at+jwt", "refresh+jwt"),
		connectjwt.WithRevocationStore(connectjwt.NewMemoryStore()),
	)
	issuer, err := connectjwt.NewIssuer(shared, connectjwt.WithTokenLifetimes(time.Minute, time.Hour))
	v, err2 := connectjwt.NewValidator(shared, connectjwt.WithLeeway(time.Second))
	auth := connectjwt.NewInterceptor(v, connectjwt.WithExpiredTokenLoader(nil))
	opts := []connectjwt.Option{shared, connectjwt.WithKey(connectjwt.HMACKey(nil))}
	_, _ = connectjwt.NewIssuer(opts[0], opts[1])
	_, _ = connectjwt.NewValidator(opts[0], opts[1])
	_, _, _, _, _ = issuer, err, v, err2, auth
}
`
	if out, err := build("shared", good); err != nil {
		t.Fatalf("shared options do not compile: %v\n%s", err, out)
	}
}
