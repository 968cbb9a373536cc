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
//
// What the key holds is untrusted (a restore, another tool, a collision):
// prelude answers {taken, 0}, writing nothing, when the key holds another
// type, and reads a time that cannot be right (not a number, not finite,
// negative, or further ahead than a slot or a pause can be) as none,
// writing the repair at once. Every write sets a TTL: a second past the
// later of the two times, so at most a day and a second.

// Answers of the scripts besides a slot.
const (
	noSlot = -1 // no slot before the caller's deadline, or within a day
	taken  = -2 // the key holds another type: nothing was read or written
)

// horizonMicros is the furthest ahead, in microseconds, that a slot or a
// pause can be: a day.
const horizonMicros = 24 * 3600 * 1000000

// prelude checks the key's type and reads next and until, both repaired.
// ARGV[1] is the interval between slots.
const prelude = `
if redis.replicate_commands then redis.replicate_commands() end
local kind = redis.call('TYPE', KEYS[1])['ok']
if kind ~= 'hash' and kind ~= 'none' then
	return {-2, 0}
end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local day = 86400000000
local interval = tonumber(ARGV[1])
local bad = false
local function valid(s, ahead)
	if not s then
		return 0
	end
	local x = tonumber(s)
	if x == nil or x ~= x or x < 0 or x > now + ahead then
		bad = true
		return 0
	end
	return x
end
local v = redis.call('HMGET', KEYS[1], 'next', 'until')
local nxt = valid(v[1], day + interval)
local untl = valid(v[2], day)
local function store()
	redis.call('HSET', KEYS[1], 'next', string.format('%.0f', nxt), 'until', string.format('%.0f', untl))
	redis.call('PEXPIRE', KEYS[1], math.ceil((math.max(nxt, untl) - now) / 1000) + 1000)
end
if bad then
	store()
end
`

// reserveScript takes the next slot and returns {microseconds until it,
// the slot}, or {noSlot, 0}, taking nothing, when that wait would reach
// ARGV[2] (the caller's deadline, -1 for none) or a day. With ARGV[3] = 1
// the caller's slot has come: it returns {0, 0}, admitting it, unless a
// pause began meanwhile; then it takes a slot after the pause.
var reserveScript = redis.NewScript(prelude + `
if ARGV[3] == '1' and now >= untl then
	return {0, 0}
end
local slot = math.max(now, nxt, untl)
local maxwait = tonumber(ARGV[2])
if maxwait < 0 or maxwait > day then
	maxwait = day
end
if slot - now >= maxwait then
	return {-1, 0}
end
nxt = slot + interval
store()
return {slot - now, slot}
`)

// pauseScript sets until to ARGV[2] microseconds from now (a day at most),
// unless it is already later, and returns {0, 0}.
var pauseScript = redis.NewScript(prelude + `
local u = now + math.min(tonumber(ARGV[2]), day)
if u > untl then
	untl = u
	store()
end
return {0, 0}
`)
