package idcredis

import "github.com/redis/go-redis/v9"

// The key is a hash of two times in microseconds on Redis's clock: next,
// the earliest slot nobody has taken (GCRA's theoretical arrival time), and
// until, the end of the latest pause. Both scripts read the clock with TIME,
// so every process shares Redis's clock and none needs its own to agree.
//
// redis_rate (github.com/go-redis/redis_rate) runs the same GCRA, but its
// AllowN only admits a request now or says when to try again: concurrent
// waiters then race for each slot, and none can know whether its turn comes
// before its deadline. These scripts reserve a slot in the future instead,
// as x/time/rate's Wait does, and keep the pause under the same key.

// reserveScript takes the next slot and returns {microseconds until it,
// the slot}, or {-1, 0}, taking nothing, when that wait would reach ARGV[2]
// (the caller's deadline, -1 for none). ARGV[1] is the interval between
// slots. With ARGV[3] = 1 the caller's slot has come: it returns {0, 0},
// admitting it, unless a pause began meanwhile; then it takes a slot after
// the pause.
var reserveScript = redis.NewScript(`
if redis.replicate_commands then redis.replicate_commands() end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local v = redis.call('HMGET', KEYS[1], 'next', 'until')
local nxt = tonumber(v[1]) or 0
local untl = tonumber(v[2]) or 0
if ARGV[3] == '1' and now >= untl then
	return {0, 0}
end
local slot = math.max(now, nxt, untl)
local maxwait = tonumber(ARGV[2])
if maxwait >= 0 and slot - now >= maxwait then
	return {-1, 0}
end
nxt = slot + tonumber(ARGV[1])
redis.call('HSET', KEYS[1], 'next', string.format('%.0f', nxt))
redis.call('PEXPIRE', KEYS[1], math.ceil((math.max(nxt, untl) - now) / 1000) + 1000)
return {slot - now, slot}
`)

// pauseScript sets until to ARGV[1] microseconds from now, unless it is
// already later, and returns {0, 0}.
var pauseScript = redis.NewScript(`
if redis.replicate_commands then redis.replicate_commands() end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local untl = now + tonumber(ARGV[1])
local v = redis.call('HMGET', KEYS[1], 'next', 'until')
if untl <= (tonumber(v[2]) or 0) then
	return {0, 0}
end
redis.call('HSET', KEYS[1], 'until', string.format('%.0f', untl))
redis.call('PEXPIRE', KEYS[1], math.ceil((math.max(tonumber(v[1]) or 0, untl) - now) / 1000) + 1000)
return {0, 0}
`)
