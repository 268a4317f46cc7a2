package bench

import (
	"context"
	"errors"
	"io"
	"net/http"
	"testing"

	"connectrpc.com/connect/v2"
	"connectrpc.com/connect/v2/connecthttp"

	"github.com/connectjwt/connectjwt"
	"github.com/connectjwt/connectjwt/connectv2"
	v2connect "github.com/connectjwt/connectjwt/connectv2/example/gen/example/v1/examplev1connect"
	examplev1 "github.com/connectjwt/connectjwt/example/gen/example/v1"
)

// v2Impls are the connect-go v2 rows of the round-trip table (see impls):
// the same service on a v2 server (connect.NewServer, connecthttp.Mount),
// without protection and with connectv2.NewServerInterceptor. The client is
// the v1 client every other row uses (the wire is the same), so only the
// server differs; read v2-connectjwt-cache against v2-none, not against the
// v1 rows.
func v2Impls() []string { return []string{"v2-none", "v2-connectjwt-cache"} }

// v2Service is example.v1.ProtectedService on connect-go v2, answering as
// [service] does.
type v2Service struct {
	v2connect.UnimplementedProtectedServiceHandler

	identity func(context.Context) string
}

func (s *v2Service) Protected(ctx context.Context, _ *examplev1.ProtectedRequest) (*examplev1.ProtectedResponse, error) {
	return &examplev1.ProtectedResponse{Hello: "world", Identity: s.identity(ctx)}, nil
}

func (s *v2Service) ProtectedStream(ctx context.Context, req *examplev1.ProtectedStreamRequest, stream v2connect.ProtectedServiceProtectedStreamServerStream) error {
	id := s.identity(ctx)
	for i := int32(1); i <= req.GetCount(); i++ {
		if err := stream.Send(&examplev1.ProtectedStreamResponse{Hello: "world", Sequence: i, Identity: id}); err != nil {
			return err
		}
	}
	return nil
}

// Chat echoes each message, as [service.Chat] does.
func (s *v2Service) Chat(ctx context.Context, stream v2connect.ProtectedServiceChatServerStream) error {
	id := s.identity(ctx)
	for {
		msg, err := stream.Receive()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		if err := stream.Send(&examplev1.ChatResponse{Text: msg.GetText(), Identity: id}); err != nil {
			return err
		}
	}
}

// newV2Handler returns the service on a v2 server protected by impl, or
// false when impl is not a v2 row.
func newV2Handler(tb testing.TB, impl string, f *fixture) (http.Handler, bool) {
	tb.Helper()
	var server *connect.Server
	switch impl {
	case "v2-none":
		server = connect.NewServer()
		v2connect.RegisterProtectedServiceHandler(server, &v2Service{identity: fixedIdentity})
	case "v2-connectjwt-cache":
		v, err := connectjwt.NewValidator(f.shared(), cacheOption(true))
		if err != nil {
			tb.Fatal(err)
		}
		server = connect.NewServer(connectv2.NewServerInterceptor(v))
		v2connect.RegisterProtectedServiceHandler(server, &v2Service{identity: connectjwtIdentity})
	default:
		return nil, false
	}
	mux := http.NewServeMux()
	connecthttp.Mount(mux, server, connecthttp.WithCompressMinBytes(*compressMinBytes))
	return mux, true
}
