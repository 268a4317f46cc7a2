package connectjwt_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"go/ast"
	"go/importer"
	"go/parser"
	"go/token"
	"go/types"
	"io"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"
)

// Every ```go block of README.md is type-checked, so the README's code cannot
// rot. The line before each block names how to check it:
//
//	<!-- readme-check: body -->              statements, inside a function
//	<!-- readme-check: decl -->              top-level declarations
//	<!-- readme-check: body in redisstore --> statements, in the redisstore module
//	<!-- readme-check: body in otelmetrics --> statements, in the otelmetrics module
//	<!-- readme-check: body in grpcauth -->   statements, in the grpcauth module
//	<!-- readme-check: body in connectv2 -->  statements, in the connectv2 module (connect-go v2)
//
// The wrappers (readmeWrappers) import what the README uses and declare the
// names it takes as given (secret, ctx, checkPassword, greeter, ...).
// Unused variables and imports are allowed (a snippet need not use all it
// declares); every other type error fails the test.

const readmeRootPrelude = `package readme

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"errors"
	"log"
	"log/slog"
	"net/http"
	"time"

	"connectrpc.com/connect"
	connectcors "connectrpc.com/cors"
	"github.com/rs/cors"

	"github.com/connectjwt/connectjwt"
	"github.com/connectjwt/connectjwt/connectjwttest"
	examplev1 "github.com/connectjwt/connectjwt/example/gen/example/v1"
	"github.com/connectjwt/connectjwt/example/gen/example/v1/examplev1connect"
	"github.com/connectjwt/connectjwt/gen/connectjwt/v1/connectjwtv1connect"
	"github.com/connectjwt/connectjwt/testdata/readme/greetv1connect"
)

var (
	ctx           = context.Background()
	secret        = []byte("an example secret of at least 32 bytes!")
	checkPassword connectjwt.Authenticator
	url           string
	shared        connectjwt.Option
	validator     *connectjwt.Validator
	auth          *connectjwt.Interceptor
	mux           = http.NewServeMux()
	handler       http.Handler
	w             http.ResponseWriter
	r             *http.Request
)

type greeter struct{}
`

const readmeRedisPrelude = `package readme

import (
	"context"

	"github.com/redis/go-redis/v9"

	"github.com/connectjwt/connectjwt"
	"github.com/connectjwt/connectjwt/redisstore"
)

var (
	ctx           = context.Background()
	secret        = []byte("an example secret of at least 32 bytes!")
	checkPassword connectjwt.Authenticator
)
`

const readmeOtelPrelude = `package readme

import (
	"log"

	"github.com/connectjwt/connectjwt"
	"github.com/connectjwt/connectjwt/otelmetrics"
)

var secret = []byte("an example secret of at least 32 bytes!")
`

const readmeGRPCPrelude = `package readme

import (
	"google.golang.org/grpc"
	"google.golang.org/grpc/status"

	"github.com/connectjwt/connectjwt"
	connectjwtv1 "github.com/connectjwt/connectjwt/gen/connectjwt/v1"
	"github.com/connectjwt/connectjwt/grpcauth"
)

var (
	validator *connectjwt.Validator
	err       error
)
`

const readmeConnectV2Prelude = `package readme

import (
	"context"
	"log"
	"net/http"

	"connectrpc.com/connect/v2"
	"connectrpc.com/connect/v2/connecthttp"

	"github.com/connectjwt/connectjwt"
	"github.com/connectjwt/connectjwt/connectv2"
	"github.com/connectjwt/connectjwt/connectv2/example/gen/example/v1/examplev1connect"
	"github.com/connectjwt/connectjwt/connectv2/gen/connectjwt/v1/connectjwtv1connect"
	examplev1 "github.com/connectjwt/connectjwt/example/gen/example/v1"
)

var (
	ctx           = context.Background()
	secret        = []byte("an example secret of at least 32 bytes!")
	checkPassword connectjwt.Authenticator
	url           string
	validator     *connectjwt.Validator
	protected     examplev1connect.ProtectedServiceHandler
)
`

// readmeWrapper turns a block into a file: prelude, then the block, inside a
// function for "body".
type readmeWrapper struct {
	dir     string // the module the block is checked in
	prelude string
	body    bool
}

func readmeWrappers() map[string]readmeWrapper {
	return map[string]readmeWrapper{
		"body":                {dir: ".", prelude: readmeRootPrelude, body: true},
		"decl":                {dir: ".", prelude: readmeRootPrelude},
		"body in redisstore":  {dir: "redisstore", prelude: readmeRedisPrelude, body: true},
		"body in otelmetrics": {dir: "otelmetrics", prelude: readmeOtelPrelude, body: true},
		"body in grpcauth":    {dir: "grpcauth", prelude: readmeGRPCPrelude, body: true},
		"body in connectv2":   {dir: "connectv2", prelude: readmeConnectV2Prelude, body: true},
	}
}

type readmeBlock struct {
	line    int // of the block's first code line in the README
	wrapper string
	code    string
}

var readmeCheckRE = regexp.MustCompile(`^<!-- readme-check: (.+?) -->$`)

// readmeBlocks returns the go blocks of a Markdown text.
func readmeBlocks(t *testing.T, md string) []readmeBlock {
	t.Helper()
	lines := strings.Split(md, "\n")
	var blocks []readmeBlock
	for i := 0; i < len(lines); i++ {
		if strings.TrimSpace(lines[i]) != "```go" {
			continue
		}
		var wrapper string
		if i > 0 {
			if m := readmeCheckRE.FindStringSubmatch(strings.TrimSpace(lines[i-1])); m != nil {
				wrapper = m[1]
			}
		}
		if _, ok := readmeWrappers()[wrapper]; !ok {
			t.Errorf("README.md:%d: a go block needs <!-- readme-check: body|decl|body in <module> --> on the line before, got %q", i+1, lines[max(i-1, 0)])
		}
		j := i + 1
		for j < len(lines) && strings.TrimSpace(lines[j]) != "```" {
			j++
		}
		blocks = append(blocks, readmeBlock{line: i + 2, wrapper: wrapper, code: strings.Join(lines[i+1:j], "\n")})
		i = j
	}
	return blocks
}

// readmeSource wraps a block; it returns the file and the line of the file
// where the block starts.
func readmeSource(b readmeBlock) (string, int) {
	w := readmeWrappers()[b.wrapper]
	src := w.prelude + "\n"
	if w.body {
		src += "func _() {\n"
	}
	start := strings.Count(src, "\n") + 1
	src += b.code + "\n"
	if w.body {
		src += "}\n"
	}
	return src, start
}

// exportData lists the compiled export data of every package the files of
// dir import, with go list.
func exportData(t *testing.T, dir string, files []*ast.File) map[string]string {
	t.Helper()
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("the go command is needed to type-check the README: %v", err)
	}
	seen := map[string]bool{}
	var pkgs []string
	for _, f := range files {
		for _, imp := range f.Imports {
			p := strings.Trim(imp.Path.Value, `"`)
			if !seen[p] {
				seen[p] = true
				if strings.HasPrefix(p, "github.com/connectjwt/connectjwt/testdata/") {
					p = "./" + strings.TrimPrefix(p, "github.com/connectjwt/connectjwt/")
				}
				pkgs = append(pkgs, p)
			}
		}
	}
	cmd := exec.CommandContext(context.Background(), goTool, append([]string{"list", "-export", "-deps", "-f", "{{.ImportPath}}\t{{.Export}}"}, pkgs...)...)
	cmd.Dir = dir
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list in %s: %v\n%s", dir, err, stderr.String())
	}
	exports := map[string]string{}
	for l := range strings.SplitSeq(strings.TrimSpace(string(out)), "\n") {
		if path, file, ok := strings.Cut(l, "\t"); ok && file != "" {
			exports[path] = file
		}
	}
	return exports
}

// checkReadme type-checks the go blocks of md and returns the errors, each
// with its README line.
func checkReadme(t *testing.T, md string) []string {
	t.Helper()
	blocks := readmeBlocks(t, md)
	if len(blocks) == 0 {
		t.Fatal("no go blocks found")
	}
	type parsed struct {
		block readmeBlock
		file  *ast.File
		start int
	}
	fset := token.NewFileSet()
	byDir := map[string][]parsed{}
	var problems []string
	for i, b := range blocks {
		if _, ok := readmeWrappers()[b.wrapper]; !ok {
			continue
		}
		src, start := readmeSource(b)
		f, err := parser.ParseFile(fset, fmt.Sprintf("block%d.go", i), src, 0)
		if err != nil {
			problems = append(problems, fmt.Sprintf("README.md:%d: does not parse: %v", b.line, err))
			continue
		}
		dir := readmeWrappers()[b.wrapper].dir
		byDir[dir] = append(byDir[dir], parsed{b, f, start})
	}
	for dir, ps := range byDir {
		var files []*ast.File
		for _, p := range ps {
			files = append(files, p.file)
		}
		exports := exportData(t, dir, files)
		imp := importer.ForCompiler(fset, "gc", func(path string) (io.ReadCloser, error) {
			file, ok := exports[path]
			if !ok {
				return nil, fmt.Errorf("no export data for %s", path)
			}
			return os.Open(file)
		})
		for _, p := range ps {
			// One package per block: blocks may declare the same names.
			conf := types.Config{Importer: imp, Error: func(err error) {
				var te types.Error
				ok := errors.As(err, &te)
				if ok && te.Soft && strings.Contains(te.Msg, "and not used") {
					return
				}
				pos := fset.Position(te.Pos)
				problems = append(problems, fmt.Sprintf("README.md:%d: %s", p.block.line+pos.Line-p.start, te.Msg))
			}}
			_, _ = conf.Check("readme", fset, []*ast.File{p.file}, nil)
		}
	}
	return problems
}

func TestReadmeGoBlocksCompile(t *testing.T) {
	t.Parallel()
	md, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range checkReadme(t, string(md)) {
		t.Error(p)
	}
}

// The check fails on a block that does not compile, naming its line.
func TestReadmeCheckFindsErrors(t *testing.T) {
	t.Parallel()
	md := strings.Join([]string{
		"# t", "",
		"<!-- readme-check: body -->", "```go",
		"v, err := connectjwt.NewValidator(shared)",
		"auth, err := connectjwt.NewInterceptor(shared)", // wrong: takes a *Validator
		"```", "",
		"<!-- readme-check: decl -->", "```go",
		"func f() string { return connectjwt.NoSuchThing }",
		"```",
	}, "\n")
	problems := checkReadme(t, md)
	want := []string{"README.md:6:", "README.md:11:"}
	if len(problems) < len(want) {
		t.Fatalf("problems = %q, want errors on lines 6 and 11", problems)
	}
	for _, w := range want {
		found := false
		for _, p := range problems {
			found = found || strings.HasPrefix(p, w)
		}
		if !found {
			t.Errorf("no error reported at %s in %q", w, problems)
		}
	}
}
