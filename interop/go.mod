module github.com/connectjwt/connectjwt/interop

go 1.26.0

require (
	connectrpc.com/connect v1.21.1
	github.com/connectjwt/connectjwt v0.1.0
)

require (
	github.com/MicahParks/jwkset v0.11.4 // indirect
	github.com/golang-jwt/jwt/v5 v5.3.1 // indirect
	golang.org/x/time v0.15.0 // indirect
	google.golang.org/protobuf v1.36.12 // indirect
)
