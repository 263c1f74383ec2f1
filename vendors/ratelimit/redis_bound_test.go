package ratelimit_test

import (
	"context"
	"errors"
	"math"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/crm-mcp/crm-mcp/vendors/ratelimit"
	"github.com/crm-mcp/crm-mcp/vendors/redistest"
)

// ttls returns the TTL of every limiter key; a key without one fails.
func ttls(t *testing.T, rdb *redis.Client) map[string]time.Duration {
	t.Helper()
	ctx := context.Background()
	keys, err := rdb.Keys(ctx, "crm-mcp:rl:*").Result()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]time.Duration{}
	for _, k := range keys {
		d, err := rdb.PTTL(ctx, k).Result()
		if err != nil {
			t.Fatal(err)
		}
		if d <= 0 {
			t.Fatalf("%s has no TTL (%s)", k, d)
		}
		out[k] = d
	}
	return out
}

// A hostile Retry-After holds a credential for DefaultMaxPause at most, and its
// key expires with the pause; zero and negative pauses write nothing.
func TestRedisPauseIsClamped(t *testing.T) {
	rdb := redistest.Client(t)
	l := ratelimit.NewRedis(rdb)
	ctx := context.Background()
	w := []ratelimit.Window{{Limit: 10, Period: time.Minute}}
	for _, d := range []time.Duration{999999999 * time.Second, 9223372036 * time.Second, math.MaxInt64} {
		key := d.String()
		if err := l.Pause(ctx, key, d); err != nil {
			t.Fatal(err)
		}
		ttl := rdb.PTTL(ctx, "crm-mcp:rl:{"+key+"}").Val()
		if ttl > ratelimit.DefaultMaxPause+time.Second || ttl < ratelimit.DefaultMaxPause-time.Minute {
			t.Fatalf("Pause(%s): key TTL %s, want about %s", d, ttl, ratelimit.DefaultMaxPause)
		}
		got, err := l.Reserve(ctx, key, w, 2*time.Hour)
		if err != nil || got > ratelimit.DefaultMaxPause || got < ratelimit.DefaultMaxPause-time.Minute {
			t.Fatalf("Pause(%s): wait %s (%v), want about %s", d, got, err, ratelimit.DefaultMaxPause)
		}
	}
	for _, d := range []time.Duration{0, -5 * time.Second, math.MinInt64} {
		if err := l.Pause(ctx, "neg", d); err != nil {
			t.Fatal(err)
		}
	}
	if n := rdb.Exists(ctx, "crm-mcp:rl:{neg}").Val(); n != 0 {
		t.Fatalf("a pause of <= 0 wrote %v", rdb.HGetAll(ctx, "crm-mcp:rl:{neg}").Val())
	}
	for k, ttl := range ttls(t, rdb) {
		if ttl > ratelimit.DefaultMaxPause+time.Minute+5*time.Second {
			t.Fatalf("%s: TTL %s", k, ttl)
		}
	}
}

// However long the caller may wait, nothing is booked more than DefaultMaxPause
// ahead, so no key outlives DefaultMaxPause + the longest window + a few seconds.
func TestRedisKeysExpireWithinTheirWindows(t *testing.T) {
	rdb := redistest.Client(t)
	l := ratelimit.NewRedis(rdb)
	ctx := context.Background()
	vixiees := []ratelimit.Window{{Limit: 40, Period: 2 * time.Second}, {Limit: 25, Period: time.Minute},
		{Limit: 1500, Period: time.Hour}, {Limit: 1, Period: 24 * time.Hour}}
	for range 3 {
		_, _ = l.Reserve(ctx, "k", vixiees, 1000*time.Hour)
	}
	bound := ratelimit.DefaultMaxPause + 24*time.Hour + 5*time.Second
	got := ttls(t, rdb)
	if len(got) != 9 {
		t.Fatalf("keys %v", got)
	}
	for k, ttl := range got {
		if ttl > bound {
			t.Fatalf("%s: TTL %s, over %s", k, ttl, bound)
		}
	}
}

// A Reserve with no windows keeps the key's pause (it used to expire the
// key at once, forgetting the pause), as Memory does.
func TestRedisReserveWithoutWindowsKeepsThePause(t *testing.T) {
	rdb := redistest.Client(t)
	l := ratelimit.NewRedis(rdb)
	ctx := context.Background()
	if err := l.Pause(ctx, "k", 20*time.Second); err != nil {
		t.Fatal(err)
	}
	for i := range 2 {
		if d, err := l.Reserve(ctx, "k", nil, time.Minute); err != nil || d < 19*time.Second {
			t.Fatalf("call %d: wait %s (%v), want the pause's 20 s", i, d, err)
		}
	}
	ttls(t, rdb)
}

// A pause written by an older replica, 31 years long with a TTL to match,
// is cut back to DefaultMaxPause the first time the key is used.
func TestRedisCutsBackAnOverlongPause(t *testing.T) {
	rdb := redistest.Client(t)
	l := ratelimit.NewRedis(rdb)
	ctx := context.Background()
	now := rdb.Time(ctx).Val()
	long := 999999999 * time.Second
	key := "crm-mcp:rl:{k}"
	rdb.HSet(ctx, key, "pause", now.Add(long).UnixMilli())
	rdb.PExpire(ctx, key, long+time.Second)
	_, err := l.Reserve(ctx, "k", []ratelimit.Window{{Limit: 10, Period: time.Minute}}, 30*time.Second)
	var de *ratelimit.DelayError
	if !errors.As(err, &de) || de.RetryAfter > ratelimit.DefaultMaxPause {
		t.Fatalf("err = %v, want a DelayError of at most %s", err, ratelimit.DefaultMaxPause)
	}
	if ttl := rdb.PTTL(ctx, key).Val(); ttl > ratelimit.DefaultMaxPause+time.Second {
		t.Fatalf("TTL %s after the cut", ttl)
	}
}
