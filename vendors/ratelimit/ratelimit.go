// Package ratelimit keeps a vendor credential's requests inside every window
// the vendor documents (per 2 s, per minute, per hour, per day), all at once.
//
// The algorithm is a bucketed sliding log shared by the in-process and the
// Redis backends, so both behave the same:
//
//   - time is cut into buckets of Period/1000 (at least 1 ms) per window;
//   - a grant is counted as happening at the END of its bucket, so it expires
//     a little later than it really happened: the limiter can only be more
//     careful than the vendor, never less (loss: at most 0.1% of a window);
//   - a grant also carries a guard of Period/100 (50 ms to 1 s), because the
//     vendor counts a request when it arrives, a little after it was granted;
//   - the next grant time t is the earliest instant, not before the previous
//     grant and not before a pause, at which each window holds fewer than
//     Limit grants in (t-Period, t]. Bursts up to the quota go at once.
//
// A caller that would have to wait longer than it may (its deadline, and
// never more than DefaultMaxPause) is told how long instead, and nothing is
// reserved for it. Pauses are clamped to DefaultMaxPause as well: a vendor's
// Retry-After is a hint from a party that may be hostile.
package ratelimit

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"maps"
	"math"
	"sort"
	"strings"
	"sync"
	"time"
)

// Window is one documented limit: at most Limit requests in any Period.
type Window struct {
	Limit  int
	Period time.Duration
}

func (w Window) String() string { return fmt.Sprintf("%d/%s", w.Limit, w.Period) }

// resolution is the bucket width of a window.
func (w Window) resolution() time.Duration {
	r := w.Period / 1000
	if r < time.Millisecond {
		r = time.Millisecond
	}
	return r
}

// guard is the slack added to each grant's expiry for transit-time jitter.
func (w Window) guard() time.Duration {
	return min(max(w.Period/100, 50*time.Millisecond), time.Second)
}

// DelayError says a request may not go now and the caller cannot wait long
// enough: retry after RetryAfter.
type DelayError struct {
	RetryAfter time.Duration
}

func (e *DelayError) Error() string {
	return fmt.Sprintf("rate limit: next slot in %s", e.RetryAfter.Round(time.Millisecond))
}

// Limiter grants request slots for a credential key.
// Implementations are safe for concurrent use.
type Limiter interface {
	// Reserve books the earliest slot for key that keeps every window, if it
	// starts within maxWait (and DefaultMaxPause), and returns how long to wait for
	// it. Otherwise it books nothing and returns a *DelayError.
	Reserve(ctx context.Context, key string, windows []Window, maxWait time.Duration) (time.Duration, error)
	// Pause holds back every request for key for d (a vendor answered
	// 429), at most DefaultMaxPause; d <= 0 does nothing.
	Pause(ctx context.Context, key string, d time.Duration) error
}

// Wait reserves a slot and sleeps until it starts. The wait is bounded by
// ctx's deadline (the call's own timeout, however long); with no deadline
// it is bounded by maxWait.
func Wait(ctx context.Context, l Limiter, key string, windows []Window, maxWait time.Duration) (time.Duration, error) {
	if l == nil || len(windows) == 0 {
		return 0, nil
	}
	if dl, ok := ctx.Deadline(); ok {
		maxWait = max(time.Until(dl), 0)
	}
	d, err := l.Reserve(ctx, key, windows, maxWait)
	if err != nil || d <= 0 {
		return 0, err
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return d, nil
	case <-ctx.Done():
		return d, ctx.Err()
	}
}

// Defaults of Memory and Redis.
const (
	// DefaultMaxPause bounds every hold on a credential: a vendor's
	// Retry-After of 999999999 must not silence it for 31 years.
	DefaultMaxPause = time.Hour
	// DefaultMaxKeys bounds Memory's table of credentials (~2 KB each).
	DefaultMaxKeys = 10000
)

// sweepEvery is the fewest calls between two sweeps of Memory's keys: a
// sweep walks every key, so one per len/2 calls keeps it O(1) per call.
const sweepEvery = 1024

// Memory is the in-process Limiter: one process, many goroutines.
//
// A key is forgotten once every grant has left every window and its pause
// has passed: a fresh key then decides exactly as the old one would have.
// Such keys are swept out every max(len/2, 1024) calls, and before a new
// key would break MaxKeys.
//
// A key that still holds a grant inside a window, or a pause, is never
// forgotten however long it sits unused: that would let its credential
// exceed the vendor's limit. So the cap is kept by refusing: when MaxKeys
// keys are all live, a new key gets a *DelayError until the soonest of
// them expires. Memory stays bounded and no limit is broken, at the price
// of a new credential waiting when the table is full.
type Memory struct {
	// MaxKeys caps the credentials tracked at once (0: DefaultMaxKeys).
	// Set it before first use.
	MaxKeys int

	mu        sync.Mutex
	keys      map[string]*state
	now       func() time.Time
	calls     int   // calls since the last sweep
	peak      int   // most keys this map has held: Go maps never shrink
	fullUntil int64 // no key expires before this, unless it is already past (unix ns)
}

// NewMemory returns an empty in-process limiter.
func NewMemory() *Memory { return &Memory{keys: map[string]*state{}, now: time.Now} }

type bucket struct {
	end   int64 // bucket end, unix ns
	count int
}

type state struct {
	last    int64 // latest granted slot, unix ns
	pause   int64 // no slot before this, unix ns
	windows map[Window][]bucket
}

// expiry is when the key stops mattering: its last grant has left every
// window (as prune counts it) and its pause and last slot have passed.
func (st *state) expiry() int64 {
	e := max(st.last, st.pause)
	for w, bs := range st.windows {
		if n := len(bs); n > 0 {
			e = max(e, bs[n-1].end+int64(w.Period)+int64(time.Second))
		}
	}
	return e
}

func (m *Memory) maxKeys() int {
	if m.MaxKeys > 0 {
		return m.MaxKeys
	}
	return DefaultMaxKeys
}

// tick counts a call and sweeps when enough calls have gone by.
func (m *Memory) tick(now int64) {
	m.calls++
	if m.calls >= max(len(m.keys)/2, sweepEvery) {
		m.sweep(now)
	}
}

// sweep drops expired keys, and notes when the next live one expires.
func (m *Memory) sweep(now int64) {
	m.calls = 0
	m.fullUntil = math.MaxInt64
	for k, st := range m.keys {
		if e := st.expiry(); e <= now {
			delete(m.keys, k)
		} else {
			m.fullUntil = min(m.fullUntil, e)
		}
	}
	if len(m.keys) < m.peak/4 {
		m.keys = maps.Clone(m.keys) // give back the buckets of the old map
		m.peak = len(m.keys)
	}
}

// state returns key's state, making it (fresh) if the table has room. A
// full table is swept only once a key can have expired: refusing is O(1).
func (m *Memory) state(key string, now int64) (st *state, fresh bool, err error) {
	if st := m.keys[key]; st != nil {
		return st, false, nil
	}
	if len(m.keys) >= m.maxKeys() {
		if now >= m.fullUntil {
			m.sweep(now)
		}
		if len(m.keys) >= m.maxKeys() {
			return nil, false, &DelayError{RetryAfter: time.Duration(m.fullUntil - now)}
		}
	}
	st = &state{windows: map[Window][]bucket{}}
	m.keys[key] = st
	m.peak = max(m.peak, len(m.keys))
	return st, true, nil
}

// settle keeps fullUntil a lower bound once a fresh key has its first
// grant or pause (an old key's expiry only ever moves later).
func (m *Memory) settle(st *state, fresh bool) {
	if fresh {
		m.fullUntil = min(m.fullUntil, st.expiry())
	}
}

// Reserve implements Limiter. It books nothing more than DefaultMaxPause ahead.
func (m *Memory) Reserve(_ context.Context, key string, windows []Window, maxWait time.Duration) (time.Duration, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	now := m.now().UnixNano()
	m.tick(now)
	st, fresh, err := m.state(key, now)
	if err != nil {
		return 0, err
	}
	defer m.settle(st, fresh)
	maxWait = min(maxWait, DefaultMaxPause)
	t := max(now, st.last, st.pause)
	for _, w := range windows {
		bs := prune(st.windows[w], now, int64(w.Period))
		st.windows[w] = bs
		t = max(t, earliest(bs, w))
	}
	if wait := time.Duration(t - now); wait > maxWait {
		return 0, &DelayError{RetryAfter: wait}
	}
	for _, w := range windows {
		res := int64(w.resolution())
		end := (t/res + 1) * res
		bs := st.windows[w]
		if n := len(bs); n > 0 && bs[n-1].end == end {
			bs[n-1].count++
		} else {
			st.windows[w] = append(bs, bucket{end: end, count: 1})
		}
	}
	st.last = t
	return time.Duration(t - now), nil
}

// Pause implements Limiter. d is clamped to DefaultMaxPause; d <= 0 stores
// nothing. When the table is full of live keys, a new key's pause is not
// kept and a *DelayError says so (that key cannot Reserve either).
func (m *Memory) Pause(_ context.Context, key string, d time.Duration) error {
	if d <= 0 {
		return nil
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	d = min(d, DefaultMaxPause)
	now := m.now().UnixNano()
	m.tick(now)
	st, fresh, err := m.state(key, now)
	if err != nil {
		return err
	}
	st.pause = max(st.pause, now+int64(d))
	m.settle(st, fresh)
	return nil
}

// prune drops buckets that no longer count in any window ending at or after now.
func prune(bs []bucket, now, period int64) []bucket {
	i := sort.Search(len(bs), func(i int) bool { return bs[i].end+period+int64(time.Second) > now })
	if i == 0 {
		return bs
	}
	return append(bs[:0], bs[i:]...)
}

// earliest is the first instant at which w has room for one more grant:
// walking back from the newest bucket until Limit grants are counted, the
// bucket that completes the count must have left the window.
func earliest(bs []bucket, w Window) int64 {
	n := 0
	for i := len(bs) - 1; i >= 0; i-- {
		n += bs[i].count
		if n >= w.Limit {
			return bs[i].end + int64(w.Period+w.guard())
		}
	}
	return 0
}

// Key derives a limiter key from a vendor name and a credential without
// keeping the credential itself in memory or in Redis.
func Key(vendor string, credential ...string) string {
	return vendor + ":" + Fingerprint(strings.Join(credential, "\x00"))
}

// Fingerprint is a short, stable, one-way digest of a secret: safe to use in
// keys, logs and metrics labels.
func Fingerprint(secret string) string {
	sum := sha256.Sum256([]byte(secret))
	return hex.EncodeToString(sum[:8])
}
