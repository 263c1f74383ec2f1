package events

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
)

// Feed is one source a Poller reads.
type Feed struct {
	// Name names the feed in logs and Observe, e.g. "qyvo/message_received".
	Name string
	// Fetch returns the entries the feed holds now, oldest first.
	Fetch func(ctx context.Context) ([]Entry, error)
}

// Entry is one record of a feed as an event, with its dedupe key.
type Entry struct {
	Event Event
	Key   string
}

// Lock lets one holder at a time act for every replica.
type Lock interface {
	// Hold takes the lock for ttl, or extends it when this holder has it;
	// false when another holder has it.
	Hold(ctx context.Context, ttl time.Duration) (bool, error)
	// Release gives the lock up if this holder has it.
	Release(ctx context.Context) error
}

// DefaultLockTTL is how long a poller's lock lasts unless renewed.
const DefaultLockTTL = 30 * time.Second

// PollerOptions configure a Poller.
type PollerOptions struct {
	Log   Log
	Feeds []Feed
	// Every is the time between two fetches; each fetch reads the next feed
	// in turn, so a feed is read every len(Feeds) × Every. The first fetch
	// is at once.
	Every time.Duration
	// Lock, if set, is held while polling: only its holder polls.
	Lock Lock
	// LockTTL is the lock's lease (0: DefaultLockTTL), renewed every third
	// of it; polling stops when a renewal fails or is late.
	LockTTL time.Duration
	Logger  *slog.Logger
	// Observe, if set, is told the outcome of every fetch.
	Observe func(feed string, stored int, err error)
}

// Poller reads feeds into a Log.
type Poller struct {
	o          PollerOptions
	running    atomic.Bool
	leaseUntil atomic.Int64 // unix ns; with a Lock
	prev       map[string]map[string]bool
	failing    map[string]bool
}

// NewPoller returns a poller; Run starts it.
func NewPoller(o PollerOptions) *Poller {
	if o.LockTTL <= 0 {
		o.LockTTL = DefaultLockTTL
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Every <= 0 {
		o.Every = time.Minute
	}
	return &Poller{o: o, prev: map[string]map[string]bool{}, failing: map[string]bool{}}
}

// Leading reports whether this poller is running and may poll now (it
// holds the lock, or needs none).
func (p *Poller) Leading() bool {
	return p.running.Load() && (p.o.Lock == nil || time.Now().UnixNano() < p.leaseUntil.Load())
}

// Run polls until ctx ends, then releases the lock.
func (p *Poller) Run(ctx context.Context) {
	if len(p.o.Feeds) == 0 {
		return
	}
	p.running.Store(true)
	defer p.running.Store(false)
	renew := time.NewTicker(p.o.LockTTL / 3)
	defer renew.Stop()
	if p.o.Lock == nil {
		renew.Stop()
	} else {
		p.hold(ctx)
		defer func() {
			rctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			defer cancel()
			p.leaseUntil.Store(0)
			_ = p.o.Lock.Release(rctx)
		}()
	}
	poll := time.NewTimer(0)
	defer poll.Stop()
	next := 0
	for {
		select {
		case <-ctx.Done():
			return
		case <-renew.C:
			p.hold(ctx)
		case <-poll.C:
			if p.Leading() {
				p.fetch(ctx, p.o.Feeds[next])
				next = (next + 1) % len(p.o.Feeds)
			}
			poll.Reset(p.o.Every)
		}
	}
}

// hold takes or renews the lock; the lease counts from before the call,
// less a tenth for clock drift, so it never outlives Redis's.
func (p *Poller) hold(ctx context.Context) {
	ttl := p.o.LockTTL
	was := p.Leading()
	start := time.Now()
	hctx, cancel := context.WithTimeout(ctx, ttl/3)
	ok, err := p.o.Lock.Hold(hctx, ttl)
	cancel()
	if ok && err == nil {
		p.leaseUntil.Store(start.Add(ttl - ttl/10).UnixNano())
	} else if err != nil && ctx.Err() == nil {
		p.o.Logger.Warn("events poller: cannot reach the lock; polling stops when the lease ends", "error", err)
	} else {
		p.leaseUntil.Store(0)
	}
	switch now := p.Leading(); {
	case now && !was:
		p.o.Logger.Info("events poller: this replica polls the vendor feeds", "feeds", len(p.o.Feeds), "every", p.o.Every)
	case !now && was:
		p.o.Logger.Info("events poller: another replica holds the lock; this one stops polling")
	}
}

// fetch reads one feed and appends what the previous fetch did not show.
func (p *Poller) fetch(ctx context.Context, f Feed) {
	fctx, cancel := context.WithTimeout(ctx, min(max(p.o.Every, 5*time.Second), time.Minute))
	defer cancel()
	entries, err := f.Fetch(fctx)
	stored := 0
	seen := map[string]bool{}
	for _, e := range entries {
		if err != nil {
			break
		}
		if e.Key != "" && p.prev[f.Name][e.Key] {
			seen[e.Key] = true
			continue
		}
		var ok bool
		if ok, err = p.o.Log.Append(fctx, e.Event, e.Key); ok {
			stored++
		}
		if err == nil && e.Key != "" {
			seen[e.Key] = true
		}
	}
	if ctx.Err() != nil {
		return // shutting down: not a failure
	}
	if p.o.Observe != nil {
		p.o.Observe(f.Name, stored, err)
	}
	switch {
	case err != nil && !p.failing[f.Name]:
		p.failing[f.Name] = true
		p.o.Logger.Warn("events poller: cannot read a feed; trying again next round", "feed", f.Name, "error", err)
	case err == nil:
		if p.failing[f.Name] {
			p.o.Logger.Info("events poller: reading the feed again", "feed", f.Name)
		}
		p.failing[f.Name] = false
		p.prev[f.Name] = seen
	}
}

// RedisLock is a Lock in one Redis key holding a random token, with a TTL.
type RedisLock struct {
	rdb   redis.UniversalClient
	key   string
	token string
}

// NewRedisLock returns a lock on key with a holder token of its own.
func NewRedisLock(rdb redis.UniversalClient, key string) *RedisLock {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return &RedisLock{rdb: rdb, key: key, token: hex.EncodeToString(b)}
}

var holdScript = redis.NewScript(`
local v = redis.call('GET', KEYS[1])
if v == false then redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2]) return 1 end
if v == ARGV[1] then redis.call('PEXPIRE', KEYS[1], ARGV[2]) return 1 end
return 0
`)

var releaseScript = redis.NewScript(`
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
`)

// Hold implements Lock.
func (l *RedisLock) Hold(ctx context.Context, ttl time.Duration) (bool, error) {
	n, err := holdScript.Run(ctx, l.rdb, []string{l.key}, l.token, max(ttl.Milliseconds(), 1)).Int()
	return n == 1, err
}

// Release implements Lock.
func (l *RedisLock) Release(ctx context.Context) error {
	return releaseScript.Run(ctx, l.rdb, []string{l.key}, l.token).Err()
}
