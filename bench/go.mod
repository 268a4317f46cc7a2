module github.com/connectjwt/connectjwt/bench

go 1.26.0

require (
	connectrpc.com/connect v1.21.1
	github.com/auth0/go-jwt-middleware/v2 v2.3.1
	github.com/connectjwt/connectjwt v0.1.0
	github.com/golang-jwt/jwt/v5 v5.3.1
	go.opentelemetry.io/otel/sdk/metric v1.47.0
)

require (
	github.com/cespare/xxhash/v2 v2.3.0 // indirect
	github.com/go-logr/logr v1.4.4 // indirect
	github.com/go-logr/stdr v1.2.2 // indirect
	github.com/google/uuid v1.6.0 // indirect
	go.opentelemetry.io/auto/sdk v1.2.1 // indirect
	go.opentelemetry.io/otel v1.47.0 // indirect
	go.opentelemetry.io/otel/log v1.47.0 // indirect
	go.opentelemetry.io/otel/metric v1.47.0 // indirect
	go.opentelemetry.io/otel/sdk v1.47.0 // indirect
	go.opentelemetry.io/otel/trace v1.47.0 // indirect
	golang.org/x/sys v0.48.0 // indirect
)

require (
	connectrpc.com/connect/v2 v2.0.2
	github.com/MicahParks/jwkset v0.11.4 // indirect
	github.com/aclements/go-moremath v0.0.0-20210112150236-f10218a38794 // indirect
	github.com/connectjwt/connectjwt/connectv2 v0.1.0
	github.com/connectjwt/connectjwt/otelmetrics v0.1.0
	golang.org/x/crypto v0.57.0 // indirect
	golang.org/x/perf v0.0.0-20260908200009-22c9c6c9d4da // indirect
	golang.org/x/time v0.15.0 // indirect
	google.golang.org/protobuf v1.36.12 // indirect
	gopkg.in/go-jose/go-jose.v2 v2.6.3 // indirect
)

tool golang.org/x/perf/cmd/benchstat
