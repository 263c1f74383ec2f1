package ratelimit

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"
)

// Redis is the Limiter shared by every replica: the same algorithm as
// Memory, run atomically in one Lua script per call (one round trip, all
// windows of a credential checked together), with Redis's clock as the one
// clock so that replicas with skewed clocks still agree.
//
// Keys, all under the hash tag {<key>} so a cluster keeps them together:
//
//	crm-mcp:rl:{key}        hash: last (latest slot, ms), pause (no slot before, ms)
//	crm-mcp:rl:{key}:<w>    hash: bucket end (ms) -> grants, one per window
type Redis struct {
	rdb redis.UniversalClient
}

// NewRedis returns a limiter over rdb.
func NewRedis(rdb redis.UniversalClient) *Redis { return &Redis{rdb: rdb} }

var reserveScript = redis.NewScript(`
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local st = redis.call('HMGET', KEYS[1], 'last', 'pause')
local slot = math.max(now, tonumber(st[1] or '0') or 0, tonumber(st[2] or '0') or 0)
local n = tonumber(ARGV[2])
for i = 1, n do
  local limit = tonumber(ARGV[4*i-1]); local period = tonumber(ARGV[4*i]); local guard = tonumber(ARGV[4*i+2])
  local h = redis.call('HGETALL', KEYS[1+i])
  local buckets = {}
  for j = 1, #h, 2 do
    local e = tonumber(h[j])
    if e + period + 1000 <= now then redis.call('HDEL', KEYS[1+i], h[j])
    else buckets[#buckets+1] = {e, tonumber(h[j+1])} end
  end
  table.sort(buckets, function(a, b) return a[1] > b[1] end)
  local acc = 0
  for _, b in ipairs(buckets) do
    acc = acc + b[2]
    if acc >= limit then slot = math.max(slot, b[1] + period + guard); break end
  end
end
local wait = slot - now
if wait > tonumber(ARGV[1]) then return {0, wait} end
local ttl = 0
for i = 1, n do
  local period = tonumber(ARGV[4*i]); local res = tonumber(ARGV[4*i+1]); local guard = tonumber(ARGV[4*i+2])
  local e = (math.floor(slot / res) + 1) * res
  redis.call('HINCRBY', KEYS[1+i], e, 1)
  redis.call('PEXPIRE', KEYS[1+i], wait + period + guard + res + 2000)
  ttl = math.max(ttl, wait + period + guard + res + 2000)
end
redis.call('HSET', KEYS[1], 'last', slot)
redis.call('PEXPIRE', KEYS[1], ttl)
return {1, wait}
`)

var pauseScript = redis.NewScript(`
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local until_ = now + tonumber(ARGV[1])
local cur = tonumber(redis.call('HGET', KEYS[1], 'pause') or '0') or 0
if until_ > cur then redis.call('HSET', KEYS[1], 'pause', until_) end
if redis.call('PTTL', KEYS[1]) < tonumber(ARGV[1]) + 1000 then redis.call('PEXPIRE', KEYS[1], tonumber(ARGV[1]) + 1000) end
return 1
`)

func redisKeys(key string, windows []Window) []string {
	base := "crm-mcp:rl:{" + key + "}"
	keys := make([]string, 0, len(windows)+1)
	keys = append(keys, base)
	for _, w := range windows {
		keys = append(keys, base+":"+strconv.Itoa(w.Limit)+"/"+strconv.FormatInt(w.Period.Milliseconds(), 10))
	}
	return keys
}

// Reserve implements Limiter.
func (r *Redis) Reserve(ctx context.Context, key string, windows []Window, maxWait time.Duration) (time.Duration, error) {
	args := make([]any, 0, 2+4*len(windows))
	args = append(args, maxWait.Milliseconds(), len(windows))
	for _, w := range windows {
		args = append(args, w.Limit, w.Period.Milliseconds(), max(w.resolution().Milliseconds(), 1), w.guard().Milliseconds())
	}
	res, err := reserveScript.Run(ctx, r.rdb, redisKeys(key, windows), args...).Int64Slice()
	if err != nil {
		return 0, fmt.Errorf("rate limiter (redis): %w", err)
	}
	if len(res) != 2 {
		return 0, errors.New("rate limiter (redis): unexpected reply")
	}
	wait := time.Duration(res[1]) * time.Millisecond
	if res[0] == 0 {
		return 0, &DelayError{RetryAfter: wait}
	}
	return wait, nil
}

// Pause implements Limiter.
func (r *Redis) Pause(ctx context.Context, key string, d time.Duration) error {
	return pauseScript.Run(ctx, r.rdb, redisKeys(key, nil), max(d.Milliseconds(), 1)).Err()
}
