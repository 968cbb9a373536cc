// Package idcredis shares an IdentityCall quota among every process of a
// fleet through Redis: each [idctrace.Transport] given a Limiter from
// [NewLimiter] with the same key takes its slots from one queue and honours
// the same pauses, as one account must. NewLimiter's example is what each
// process runs: a Redis client built the usual way, the limiter, the
// Transport.
//
// Redis is treated as untrusted and fallible: no call to it holds a caller
// past its deadline, a value under the key that cannot be right is
// overwritten, a key of another type is left alone, and while Redis fails
// each process paces itself at the quota, so a fleet of N processes sends
// at most N times the quota, never unpaced.
//
// It is a module of its own, so that importers of idctrace get no Redis
// client. It needs Redis 5 or later (or a server that runs Lua scripts and
// answers TIME); a Redis Cluster works too, since a limiter uses one key.
package idcredis
