package events

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
)

// Redis is the Log every replica shares: one stream, trimmed by count on
// every append (XADD MAXLEN ~) and by age (XTRIM MINID ~, Redis's clock);
// each dedupe key a SET NX with MaxAge as TTL, taken in the same script as
// the XADD, so an event is stored once and never half-stored; a PUBLISH of
// the id in that script wakes every replica's Notify. Needs Redis 6.2.
//
// Keys, under one hash tag so a cluster keeps them in one slot:
//
//	{<namespace>}:stream       the stream: v (vendor), t (type), e (the JSON record)
//	{<namespace>}:seen:<key>   a dedupe key
//	{<namespace>}:new          the Pub/Sub channel (not a key)
type Redis struct {
	o       Options
	rdb     redis.UniversalClient
	stream  string
	seen    string
	channel string
	n       notifier
	closed  atomic.Bool

	watchOnce sync.Once
	stop      chan struct{}
	watched   chan struct{}
	started   atomic.Bool
}

// recheck is how often Notify's watcher looks for events it was not told
// about: a lost Pub/Sub message is noticed within it.
const recheck = 2 * time.Second

// NewRedis returns the log over rdb; Close leaves rdb open.
func NewRedis(rdb redis.UniversalClient, o Options) *Redis {
	o = o.withDefaults()
	o.Now = time.Now // ids come from Redis's clock: ages are read against the real time
	tag := "{" + o.Namespace + "}"
	return &Redis{o: o, rdb: rdb, stream: tag + ":stream", seen: tag + ":seen:", channel: tag + ":new",
		stop: make(chan struct{}), watched: make(chan struct{})}
}

var appendScript = redis.NewScript(`
if #KEYS > 1 then
  if not redis.call('SET', KEYS[2], '1', 'NX', 'PX', ARGV[1]) then return false end
end
local id = redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[2], '*', 'v', ARGV[5], 't', ARGV[6], 'e', ARGV[7])
local t = redis.call('TIME')
local minms = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000) - tonumber(ARGV[3])
if minms > 0 then redis.call('XTRIM', KEYS[1], 'MINID', '~', string.format('%d', minms)) end
redis.call('PUBLISH', ARGV[4], id)
return id
`)

// Append implements Log.
func (r *Redis) Append(ctx context.Context, e Event, key string) (bool, error) {
	if r.closed.Load() {
		return false, ErrClosed
	}
	keep, err := prepare(&e, r.o.Now(), r.o.MaxAge)
	if err != nil || !keep {
		return false, err
	}
	rec, err := json.Marshal(toRecord(e, ""))
	if err != nil {
		return false, err
	}
	keys := []string{r.stream}
	if key != "" {
		keys = append(keys, r.seen+normKey(key))
	}
	_, err = appendScript.Run(ctx, r.rdb, keys, max(r.o.MaxAge.Milliseconds(), 1), r.o.Max, r.o.MaxAge.Milliseconds(),
		r.channel, e.Vendor, e.Type, rec).Text()
	switch {
	case errors.Is(err, redis.Nil):
		return false, nil
	case err != nil:
		return false, fmt.Errorf("events (redis): %w", err)
	}
	return true, nil
}

// List implements Log.
func (r *Redis) List(ctx context.Context, q Query) ([]Event, string, error) {
	if r.closed.Load() {
		return nil, "", ErrClosed
	}
	after, err := cursor(q.After)
	if err != nil {
		return nil, "", err
	}
	limit := q.limit()
	start := "(" + after.String()
	if minID := (id{unixMs(r.o.Now().Add(-r.o.MaxAge)), 0}); after.less(minID) {
		start = minID.String()
	}
	out := []Event{}
	next := q.After
	for scanned := 0; scanned < MaxScan && len(out) < limit; {
		count := limit - len(out)
		if q.Vendor != "" || len(q.Types) > 0 {
			count = max(count, 500) // some will be filtered out: read ahead
		}
		count = min(count, MaxScan-scanned)
		msgs, err := r.rdb.XRangeN(ctx, r.stream, start, "+", int64(count)).Result()
		if err != nil {
			return nil, "", fmt.Errorf("events (redis): %w", err)
		}
		for _, m := range msgs {
			scanned++
			next = m.ID
			v, _ := m.Values["v"].(string)
			t, _ := m.Values["t"].(string)
			if !q.match(v, t) {
				continue
			}
			i, err := parseID(m.ID)
			raw, _ := m.Values["e"].(string)
			var rec record
			if err != nil || json.Unmarshal([]byte(raw), &rec) != nil {
				continue // unreadable: skipped, never fatal
			}
			if out = append(out, rec.event(i)); len(out) == limit {
				break
			}
		}
		if len(msgs) < count {
			break
		}
		start = "(" + next
	}
	return out, next, nil
}

// Notify implements Log: the first call starts the one watcher (a Pub/Sub
// subscription and a periodic check of the stream's last id).
func (r *Redis) Notify() (<-chan struct{}, func()) {
	ch, cancel := r.n.subscribe()
	if !r.closed.Load() {
		r.watchOnce.Do(func() {
			r.started.Store(true)
			go r.watch()
		})
	}
	return ch, cancel
}

func (r *Redis) watch() {
	defer close(r.watched)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ps := r.rdb.Subscribe(ctx, r.channel)
	defer ps.Close()
	msgs := ps.Channel()
	t := time.NewTicker(recheck)
	defer t.Stop()
	last := r.lastID(ctx)
	for {
		select {
		case <-r.stop:
			return
		case m, ok := <-msgs:
			if !ok {
				return
			}
			last = m.Payload
			r.n.broadcast()
		case <-t.C:
			if id := r.lastID(ctx); id != last && id != "" {
				last = id
				r.n.broadcast()
			}
		}
	}
}

// lastID is the stream's newest id ("" if empty or unreachable).
func (r *Redis) lastID(ctx context.Context) string {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	msgs, err := r.rdb.XRevRangeN(ctx, r.stream, "+", "-", 1).Result()
	if err != nil || len(msgs) == 0 {
		return ""
	}
	return msgs[0].ID
}

// Close implements Log; the Redis client stays open.
func (r *Redis) Close() error {
	if r.closed.Swap(true) {
		return nil
	}
	r.watchOnce.Do(func() {}) // no watcher may start now
	close(r.stop)
	if r.started.Load() {
		<-r.watched
	}
	r.n.close()
	return nil
}
