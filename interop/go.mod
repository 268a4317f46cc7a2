module github.com/connectjwt/connectjwt/interop

go 1.26.0

require (
	connectrpc.com/connect v1.21.1
	github.com/connectjwt/connectjwt v0.1.0
	github.com/golang-jwt/jwt/v5 v5.3.1
)
