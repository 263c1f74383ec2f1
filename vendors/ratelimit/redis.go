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
//	crm-mcp:rl:{key}          hash: last (latest slot, ms), pause (no slot before, ms)
//	crm-mcp:rl:{key}:<w>      hash: bucket end (ms) -> grants, and n = live grants
//	crm-mcp:rl:{key}:<w>:z    sorted set of the bucket ends, for pruning and walking
//
// The running count n keeps the common case (a window with room) O(log n);
// the buckets are walked, newest first, only when a window is full.
//
// Every key expires, and no TTL exceeds DefaultMaxPause + the longest
// window + a few seconds: a window's keys outlive their newest grant by the
// window, the credential's key outlives its pause and latest slot, and no
// pause or slot lies more than DefaultMaxPause ahead. A pause or slot found
// further ahead (written by an older replica) is cut back to
// DefaultMaxPause once, TTL included.
type Redis struct {
	rdb redis.UniversalClient
}

// NewRedis returns a limiter over rdb.
func NewRedis(rdb redis.UniversalClient) *Redis { return &Redis{rdb: rdb} }

var reserveScript = redis.NewScript(`
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local st = redis.call('HMGET', KEYS[1], 'last', 'pause')
local horizon = now + tonumber(ARGV[3])
local last, pause = tonumber(st[1] or '0') or 0, tonumber(st[2] or '0') or 0
if last > horizon or pause > horizon then
  last, pause = math.min(last, horizon), math.min(pause, horizon)
  redis.call('HSET', KEYS[1], 'last', last, 'pause', pause)
  redis.call('PEXPIRE', KEYS[1], tonumber(ARGV[3]) + 1000)
end
local slot = math.max(now, last, pause)
local n = tonumber(ARGV[2])
for i = 1, n do
  local limit = tonumber(ARGV[4*i]); local period = tonumber(ARGV[4*i+1]); local guard = tonumber(ARGV[4*i+3])
  local h, z = KEYS[2*i], KEYS[2*i+1]
  local cutoff = now - period - 1000
  local expired = redis.call('ZRANGEBYSCORE', z, '-inf', cutoff)
  if #expired > 0 then
    local gone = 0
    for _, c in ipairs(redis.call('HMGET', h, unpack(expired))) do gone = gone + (tonumber(c) or 0) end
    redis.call('HDEL', h, unpack(expired))
    redis.call('ZREMRANGEBYSCORE', z, '-inf', cutoff)
    redis.call('HINCRBY', h, 'n', -gone)
  end
  if (tonumber(redis.call('HGET', h, 'n')) or 0) >= limit then
    local acc, off, done = 0, 0, false
    while not done do
      local ends = redis.call('ZREVRANGE', z, off, off + 99)
      if #ends == 0 then break end
      local counts = redis.call('HMGET', h, unpack(ends))
      for j = 1, #ends do
        acc = acc + (tonumber(counts[j]) or 0)
        if acc >= limit then slot = math.max(slot, tonumber(ends[j]) + period + guard); done = true; break end
      end
      off = off + 100
    end
  end
end
local wait = slot - now
if wait > tonumber(ARGV[1]) then return {0, wait} end
local ttl = wait + 2000
for i = 1, n do
  local period = tonumber(ARGV[4*i+1]); local res = tonumber(ARGV[4*i+2]); local guard = tonumber(ARGV[4*i+3])
  local h, z = KEYS[2*i], KEYS[2*i+1]
  local e = (math.floor(slot / res) + 1) * res
  redis.call('HINCRBY', h, e, 1)
  redis.call('HINCRBY', h, 'n', 1)
  redis.call('ZADD', z, e, e)
  local keep = wait + period + guard + res + 2000
  redis.call('PEXPIRE', h, keep)
  redis.call('PEXPIRE', z, keep)
  ttl = math.max(ttl, keep)
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
	keys := make([]string, 0, 2*len(windows)+1)
	keys = append(keys, base)
	for _, w := range windows {
		k := base + ":" + strconv.Itoa(w.Limit) + "/" + strconv.FormatInt(w.Period.Milliseconds(), 10)
		keys = append(keys, k, k+":z")
	}
	return keys
}

// Reserve implements Limiter.
func (r *Redis) Reserve(ctx context.Context, key string, windows []Window, maxWait time.Duration) (time.Duration, error) {
	const hold = DefaultMaxPause
	args := make([]any, 0, 3+4*len(windows))
	args = append(args, min(maxWait, hold).Milliseconds(), len(windows), hold.Milliseconds())
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

// Pause implements Limiter. d is clamped to DefaultMaxPause; d <= 0 writes nothing.
func (r *Redis) Pause(ctx context.Context, key string, d time.Duration) error {
	if d <= 0 {
		return nil
	}
	d = min(d, DefaultMaxPause)
	return pauseScript.Run(ctx, r.rdb, redisKeys(key, nil), max(d.Milliseconds(), 1)).Err()
}
