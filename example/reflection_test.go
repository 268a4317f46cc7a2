package main

import (
	"errors"
	"slices"
	"testing"

	"connectrpc.com/connect"
	"connectrpc.com/grpcreflect"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/connectjwt/connectjwt/example/gen/example/v1/examplev1connect"
	"github.com/connectjwt/connectjwt/gen/connectjwt/v1/connectjwtv1connect"
)

// Reflection is public: a real reflection client, with no token, lists the
// services and fetches their descriptors, over gRPC and Connect.
func TestReflection(t *testing.T) {
	s := startTestServer(t)
	hc := h2cClient(t)
	wantServices := []protoreflect.FullName{connectjwtv1connect.AuthServiceName, examplev1connect.ProtectedServiceName}
	for _, p := range protocols {
		t.Run(p.name, func(t *testing.T) {
			stream := grpcreflect.NewClient(hc, s.baseURL, p.opts...).NewStream(callCtx(t))
			defer stream.Close()
			names, err := stream.ListServices()
			if err != nil {
				t.Fatalf("ListServices: %v", err)
			}
			slices.Sort(names)
			if !slices.Equal(names, wantServices) {
				t.Errorf("ListServices = %v, want %v", names, wantServices)
			}
			files, err := stream.FileContainingSymbol(examplev1connect.ProtectedServiceName)
			if err != nil {
				t.Fatalf("FileContainingSymbol: %v", err)
			}
			var got []string
			for _, f := range files {
				got = append(got, f.GetName())
			}
			for _, want := range []string{"example/v1/example.proto", "connectjwt/v1/options.proto"} {
				if !slices.Contains(got, want) {
					t.Errorf("FileContainingSymbol returned %v, want %s among them", got, want)
				}
			}
		})
	}
}

// rawCodec passes protobuf bytes through, so the test can speak v1alpha
// (wire-compatible with v1) without generated code for it.
type rawCodec struct{}

func (rawCodec) Name() string { return "proto" }

func (rawCodec) Marshal(m any) ([]byte, error) {
	b, ok := m.(*[]byte)
	if !ok {
		return nil, errors.New("rawCodec: not *[]byte")
	}
	return *b, nil
}

func (rawCodec) Unmarshal(data []byte, m any) error {
	b, ok := m.(*[]byte)
	if !ok {
		return errors.New("rawCodec: not *[]byte")
	}
	*b = append((*b)[:0], data...)
	return nil
}

// The older v1alpha service (grpcurl falls back to it) lists the services
// too, without a token.
func TestReflectionV1Alpha(t *testing.T) {
	s := startTestServer(t)
	client := connect.NewClient[[]byte, []byte](h2cClient(t),
		s.baseURL+"/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo",
		connect.WithGRPC(), connect.WithCodec(rawCodec{}))
	stream := client.CallBidiStream(callCtx(t))
	// ServerReflectionRequest{list_services (7): "*"}
	req := protowire.AppendString(protowire.AppendTag(nil, 7, protowire.BytesType), "*")
	if err := stream.Send(&req); err != nil {
		t.Fatalf("Send: %v", err)
	}
	if err := stream.CloseRequest(); err != nil {
		t.Fatal(err)
	}
	res, err := stream.Receive()
	if err != nil {
		t.Fatalf("Receive: %v", err)
	}
	_ = stream.CloseResponse()
	// ServerReflectionResponse{list_services_response (6): {service (1): {name (1)}}}
	var names []string
	for _, list := range fields(t, *res, 6) {
		for _, svc := range fields(t, list, 1) {
			for _, name := range fields(t, svc, 1) {
				names = append(names, string(name))
			}
		}
	}
	slices.Sort(names)
	want := []string{connectjwtv1connect.AuthServiceName, examplev1connect.ProtectedServiceName}
	if !slices.Equal(names, want) {
		t.Errorf("v1alpha lists %v, want %v", names, want)
	}
}

// fields returns the length-delimited fields numbered num in msg.
func fields(t *testing.T, msg []byte, num protowire.Number) [][]byte {
	t.Helper()
	var out [][]byte
	for len(msg) > 0 {
		n, typ, l := protowire.ConsumeTag(msg)
		if l < 0 {
			t.Fatalf("bad tag: %v", protowire.ParseError(l))
		}
		msg = msg[l:]
		l = protowire.ConsumeFieldValue(n, typ, msg)
		if l < 0 {
			t.Fatalf("bad field %d: %v", n, protowire.ParseError(l))
		}
		if n == num && typ == protowire.BytesType {
			v, _ := protowire.ConsumeBytes(msg)
			out = append(out, v)
		}
		msg = msg[l:]
	}
	return out
}
