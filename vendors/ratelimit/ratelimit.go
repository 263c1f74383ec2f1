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
// A caller that would have to wait longer than it may (its deadline) is told
// how long instead, and nothing is reserved for it.
package ratelimit

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
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
	// starts within maxWait, and returns how long to wait for it. Otherwise
	// it books nothing and returns a *DelayError.
	Reserve(ctx context.Context, key string, windows []Window, maxWait time.Duration) (time.Duration, error)
	// Pause holds back every request for key for d (a vendor answered 429).
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

// Memory is the in-process Limiter: one process, many goroutines.
type Memory struct {
	mu   sync.Mutex
	keys map[string]*state
	now  func() time.Time
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

// Reserve implements Limiter.
func (m *Memory) Reserve(_ context.Context, key string, windows []Window, maxWait time.Duration) (time.Duration, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	now := m.now().UnixNano()
	st := m.keys[key]
	if st == nil {
		st = &state{windows: map[Window][]bucket{}}
		m.keys[key] = st
	}
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

// Pause implements Limiter.
func (m *Memory) Pause(_ context.Context, key string, d time.Duration) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	st := m.keys[key]
	if st == nil {
		st = &state{windows: map[Window][]bucket{}}
		m.keys[key] = st
	}
	st.pause = max(st.pause, m.now().Add(d).UnixNano())
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
