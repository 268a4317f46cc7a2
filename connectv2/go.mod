module github.com/connectjwt/connectjwt/connectv2

go 1.26.0

require (
	connectrpc.com/connect v1.21.1
	connectrpc.com/connect/v2 v2.0.2
	github.com/connectjwt/connectjwt v0.1.0
	github.com/golang-jwt/jwt/v5 v5.3.1
)

require (
	connectrpc.com/cors v0.1.0 // indirect
	connectrpc.com/grpcreflect v1.3.1 // indirect
	github.com/MicahParks/jwkset v0.11.4 // indirect
	github.com/rs/cors v1.11.1 // indirect
	golang.org/x/time v0.15.0 // indirect
	google.golang.org/protobuf v1.36.12 // indirect
)

tool connectrpc.com/connect/v2/cmd/protoc-gen-connect-go
