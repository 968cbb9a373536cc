module github.com/identitycall/idctrace/idcredis

go 1.26.0

// The root module is required at the version released with this one
// (RELEASING.md); while developing, the checkout's root stands in for it.
// A replace applies only here, never in a user's build.
replace github.com/identitycall/idctrace => ../

require (
	github.com/identitycall/idctrace v0.1.0
	github.com/redis/go-redis/v9 v9.23.0
	github.com/stretchr/testify v1.12.1
	go.uber.org/goleak v1.3.0
	go.uber.org/zap v1.28.0
)

require (
	github.com/cespare/xxhash/v2 v2.3.0 // indirect
	github.com/google/uuid v1.6.0 // indirect
	go.uber.org/atomic v1.12.0 // indirect
	go.uber.org/multierr v1.10.0 // indirect
	go.yaml.in/yaml/v3 v3.0.5 // indirect
	golang.org/x/sys v0.48.0 // indirect
)
