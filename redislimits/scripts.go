package redislimits

import "github.com/redis/go-redis/v9"

// The scripts run atomically on the Redis server, each on keys of one hash
// tag (one Cluster slot). Times are Redis's own (TIME, in microseconds), so
// instances with skewed clocks share one timeline. Scores are integers far
// below 2^53, exact in Lua's doubles and in sorted-set scores.
//
// Windows: a request window is a sorted set of admissions (member: the
// request id, score: admission time). A tokens window is a sorted set of
// entries (member: "r<id>:<n>" for a reservation, "u<id>:<n>" for usage,
// score: time) plus a running sum; pruning subtracts what leaves. Concurrency
// slots are leases: a sorted set of request ids scored by expiry, renewed
// while the request runs. Every write sets PEXPIRE so idle keys vanish.

// prelude holds the helpers every window script uses.
const prelude = `
redis.replicate_commands()
local function now_us()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000000 + tonumber(t[2])
end
-- the count at the end of a member "<kind><id>:<n>"
local function count(m) return tonumber(string.match(m, ':(%d+)$')) end
-- drops token entries at or before cut and returns the window's sum
local function tok_prune(z, s, cut)
  local old = redis.call('ZRANGEBYSCORE', z, '-inf', cut)
  local sum = tonumber(redis.call('GET', s) or '0')
  for _, m in ipairs(old) do sum = sum - count(m) end
  if #old > 0 then redis.call('ZREMRANGEBYSCORE', z, '-inf', cut) end
  if redis.call('EXISTS', z) == 0 then
    redis.call('DEL', s)
    return 0
  end
  if #old > 0 then redis.call('SET', s, sum, 'KEEPTTL') end
  return sum
end
-- time until the token sum is at most target
local function tok_wait(z, sum, target, now, win)
  if sum <= target then return 0 end
  local e = redis.call('ZRANGE', z, 0, -1, 'WITHSCORES')
  for i = 1, #e, 2 do
    sum = sum - count(e[i])
    if sum <= target then return tonumber(e[i + 1]) + win - now end
  end
  return 0
end
-- time until the entry at index i leaves the window
local function nth_wait(z, i, now, win)
  local e = redis.call('ZRANGE', z, i, i, 'WITHSCORES')
  if #e == 0 then return 0 end
  return tonumber(e[2]) + win - now
end
-- the reset times of the key's windows for the x-ratelimit headers
local function resets(krpm, ktpm, kr, kt, kn, ksum, now, win)
  local rres, tres = 0, 0
  if kr > 0 and kn > 0 then rres = nth_wait(krpm, 0, now, win) end
  if kt > 0 then
    tres = tok_wait(ktpm, ksum, kt - 1, now, win)
    if tres <= 0 then tres = nth_wait(ktpm, 0, now, win) end
  end
  return rres, tres
end
local function add(z, score, m, ms)
  local n = redis.call('ZADD', z, score, m)
  redis.call('PEXPIRE', z, ms)
  return n
end
`

// admitScript decides on one request and takes its slots when every limit
// passes: global concurrency, global rpm, then the key's concurrency, rpm
// and tpm. Nothing is taken unless all pass, so nothing is rolled back.
//
// KEYS: 1 global leases, 2 global admissions, 3 key leases, 4 key
// admissions, 5 key token entries, 6 key token sum.
// ARGV: 1 request id, 2 global concurrency, 3 global rpm, 4 key
// concurrency, 5 key rpm, 6 key tpm, 7 "1" when the key's limits apply,
// 8 lease TTL µs, 9 window µs.
// Returns {reason or "", limit, wait µs, key admissions, request reset µs,
// token sum, token reset µs}.
var admitScript = redis.NewScript(prelude + `
local id = ARGV[1]
local gc, gr = tonumber(ARGV[2]), tonumber(ARGV[3])
local kc, kr, kt = tonumber(ARGV[4]), tonumber(ARGV[5]), tonumber(ARGV[6])
local usekey = ARGV[7] == '1'
local ttl, win = tonumber(ARGV[8]), tonumber(ARGV[9])
local now = now_us()
local cut = now - win
local idle, lidle = math.floor(win / 1000) + 1000, math.floor(ttl / 1000) + 1000
local rej, lim, wait = '', 0, 0
if gc > 0 then
  redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
  if redis.call('ZCARD', KEYS[1]) >= gc then rej, lim = 'global_concurrency', gc end
end
if rej == '' and gr > 0 then
  redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', cut)
  local n = redis.call('ZCARD', KEYS[2])
  if n >= gr then rej, lim, wait = 'global_rpm', gr, nth_wait(KEYS[2], n - gr, now, win) end
end
local kn, ksum = 0, 0
if usekey then
  if kr > 0 then
    redis.call('ZREMRANGEBYSCORE', KEYS[4], '-inf', cut)
    kn = redis.call('ZCARD', KEYS[4])
  end
  if kt > 0 then ksum = tok_prune(KEYS[5], KEYS[6], cut) end
  if rej == '' and kc > 0 then
    redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', now)
    if redis.call('ZCARD', KEYS[3]) >= kc then rej, lim = 'concurrency', kc end
  end
  if rej == '' and kr > 0 and kn >= kr then
    rej, lim, wait = 'rpm', kr, nth_wait(KEYS[4], kn - kr, now, win)
  elseif rej == '' and kt > 0 and ksum >= kt then
    rej, lim, wait = 'tpm', kt, tok_wait(KEYS[5], ksum, kt - 1, now, win)
  end
end
if rej == '' then
  if gc > 0 then add(KEYS[1], now + ttl, id, lidle) end
  if gr > 0 then add(KEYS[2], now, id, idle) end
  if usekey and kc > 0 then add(KEYS[3], now + ttl, id, lidle) end
  if usekey and kr > 0 then kn = kn + add(KEYS[4], now, id, idle) end
end
local rres, tres = 0, 0
if usekey then rres, tres = resets(KEYS[4], KEYS[5], kr, kt, kn, ksum, now, win) end
return {rej, lim, wait, kn, rres, ksum, tres}
`)

// reserveScript takes need tokens in the key's tokens window when the sum
// stays within the limit.
//
// KEYS: 1 key admissions, 2 key token entries, 3 key token sum.
// ARGV: 1 member prefix "r<id>", 2 need, 3 key rpm, 4 key tpm, 5 window µs.
// Returns what admitScript returns.
var reserveScript = redis.NewScript(prelude + `
local need, kr, kt, win = tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5])
local now = now_us()
local cut = now - win
local idle = math.floor(win / 1000) + 1000
local kn = 0
if kr > 0 then
  redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', cut)
  kn = redis.call('ZCARD', KEYS[1])
end
local ksum = tok_prune(KEYS[2], KEYS[3], cut)
local rej, wait = '', 0
if ksum + need > kt then
  rej, wait = 'tpm', tok_wait(KEYS[2], ksum, kt - need, now, win)
else
  if redis.call('ZADD', KEYS[2], 'NX', now, ARGV[1] .. ':' .. need) == 1 then
    ksum = tonumber(redis.call('INCRBY', KEYS[3], need))
  end
  redis.call('PEXPIRE', KEYS[2], idle)
  redis.call('PEXPIRE', KEYS[3], idle)
end
local rres, tres = resets(KEYS[1], KEYS[2], kr, kt, kn, ksum, now, win)
return {rej, kt, wait, kn, rres, ksum, tres}
`)

// releaseScript ends a request: its leases go, with refund its admissions
// too, its reservation leaves the tokens window and its usage enters it.
//
// KEYS: as admitScript.
// ARGV: 1 request id, 2 "1": free the global lease, 3 "1": refund the
// global admission, 4 "1": free the key's lease, 5 "1": refund the key's
// admission, 6 tokens reserved, 7 tokens used, 8 window µs.
var releaseScript = redis.NewScript(prelude + `
local id = ARGV[1]
for i = 1, 4 do
  if ARGV[i + 1] == '1' then redis.call('ZREM', KEYS[i], id) end
end
local res, used = tonumber(ARGV[6]), tonumber(ARGV[7])
if res > 0 and redis.call('ZREM', KEYS[5], 'r' .. id .. ':' .. res) == 1 then
  redis.call('DECRBY', KEYS[6], res)
end
if used > 0 then
  local idle = math.floor(tonumber(ARGV[8]) / 1000) + 1000
  if redis.call('ZADD', KEYS[5], 'NX', now_us(), 'u' .. id .. ':' .. used) == 1 then
    redis.call('INCRBY', KEYS[6], used)
  end
  redis.call('PEXPIRE', KEYS[5], idle)
  redis.call('PEXPIRE', KEYS[6], idle)
end
return 1
`)

// renewScript extends the leases of a sorted set (only those still there:
// an expired lease stays gone) and keeps the set alive as long as them.
//
// KEYS: 1 the set. ARGV: 1 lease TTL µs, 2... members.
var renewScript = redis.NewScript(prelude + `
local ttl = tonumber(ARGV[1])
local exp = now_us() + ttl
for i = 2, #ARGV do redis.call('ZADD', KEYS[1], 'XX', exp, ARGV[i]) end
local ms = math.floor(ttl / 1000) + 1000
local pttl = redis.call('PTTL', KEYS[1])
if pttl >= 0 and pttl < ms then redis.call('PEXPIRE', KEYS[1], ms) end
return 1
`)

// budgetPrelude holds the budget scripts' helpers.
const budgetPrelude = prelude + `
-- the warning threshold a settle crosses (middleware's crossedThreshold)
local function crossed(spent, limit, warned)
  if limit <= 0 or warned >= 100 then return 0 end
  local s = math.min(spent, limit * 2)
  if s >= limit then return 100 end
  if s * 5 >= limit * 4 and warned < 80 then return 80 end
  return 0
end
`

// budgetCheckScript admits a request when every budget has room (spent +
// reserved < limit) and then reserves est in each as a lease. A budget's
// period without state is loaded first: the script asks for it ("load"),
// the caller reads the recorded spend and runs it again with the value, and
// the first value stored wins (HSETNX semantics), however many instances
// race.
//
// KEYS: per budget i, 2i-1 its hash (spent, reserved, warned) and 2i its
// reservations (member "<id>:<amount>", score: expiry).
// ARGV: 1 est, 2 request id, 3 lease TTL µs, then per budget: limit,
// expiry of its keys (unix ms), loaded spend ("" when not read).
// Returns {"load", index...} or {"ok", refused index or -1, spent,
// reserved, ...}.
var budgetCheckScript = redis.NewScript(budgetPrelude + `
local n = #KEYS / 2
local est, ttl = tonumber(ARGV[1]), tonumber(ARGV[3])
local missing = {'load'}
for i = 1, n do
  local h, a = KEYS[2 * i - 1], 3 + 3 * (i - 1)
  if redis.call('HEXISTS', h, 'spent') == 0 then
    if ARGV[a + 3] == '' then
      missing[#missing + 1] = i - 1
    else
      redis.call('HSET', h, 'spent', ARGV[a + 3])
      redis.call('PEXPIREAT', h, ARGV[a + 2])
    end
  end
end
if #missing > 1 then return missing end
local now = now_us()
local out, refused = {'ok', -1}, -1
for i = 1, n do
  local h, r = KEYS[2 * i - 1], KEYS[2 * i]
  local gone = redis.call('ZRANGEBYSCORE', r, '-inf', now)
  if #gone > 0 then
    local s = 0
    for _, m in ipairs(gone) do s = s + count(m) end
    redis.call('HINCRBY', h, 'reserved', -s)
    redis.call('ZREMRANGEBYSCORE', r, '-inf', now)
  end
  local spent = tonumber(redis.call('HGET', h, 'spent'))
  local resv = tonumber(redis.call('HGET', h, 'reserved') or '0')
  if refused < 0 and spent + resv >= tonumber(ARGV[4 + 3 * (i - 1)]) then refused = i - 1 end
  out[#out + 1] = spent
  out[#out + 1] = resv
end
if refused < 0 and est > 0 then
  for i = 1, n do
    local h, r = KEYS[2 * i - 1], KEYS[2 * i]
    redis.call('ZADD', r, now + ttl, ARGV[2] .. ':' .. est)
    redis.call('PEXPIREAT', r, ARGV[5 + 3 * (i - 1)])
    out[2 + 2 * i] = redis.call('HINCRBY', h, 'reserved', est)
  end
end
out[2] = refused
return out
`)

// budgetSettleScript replaces a reservation with the request's cost in each
// budget and reports the warning threshold crossed, once per period. A
// budget whose state is gone (Redis lost it) is left alone: the next check
// loads the period's spend from the store again.
//
// KEYS: as budgetCheckScript. ARGV: 1 reservation member ("" for none),
// 2 its amount, 3 cost, then per budget its limit.
// Returns {spent (-1: no state), crossed, ...}.
var budgetSettleScript = redis.NewScript(budgetPrelude + `
local amount, cost = tonumber(ARGV[2]), tonumber(ARGV[3])
local out = {}
for i = 1, #KEYS / 2 do
  local h, r = KEYS[2 * i - 1], KEYS[2 * i]
  if redis.call('HEXISTS', h, 'spent') == 0 then
    out[#out + 1] = -1
    out[#out + 1] = 0
  else
    if ARGV[1] ~= '' and redis.call('ZREM', r, ARGV[1]) == 1 then
      redis.call('HINCRBY', h, 'reserved', -amount)
    end
    local spent = redis.call('HINCRBY', h, 'spent', cost)
    local c = crossed(spent, tonumber(ARGV[3 + i]), tonumber(redis.call('HGET', h, 'warned') or '0'))
    if c > 0 then redis.call('HSET', h, 'warned', c) end
    out[#out + 1] = spent
    out[#out + 1] = c
  end
end
return out
`)
