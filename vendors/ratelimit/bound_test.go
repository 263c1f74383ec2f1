package ratelimit

import (
	"errors"
	"math"
	"strconv"
	"testing"
	"time"
)

// 20,000 tenants pass through over a few minutes, each with one request:
// the limiter grants all of them, holds no more keys than are live (or the
// cap), and forgets them all once their windows have passed.
func TestMemoryForgetsExpiredKeys(t *testing.T) {
	m, c := newTestMemory()
	w := []Window{{Limit: 60, Period: time.Minute}}
	most := 0
	for i := range 20000 {
		if d, err := m.Reserve(ctx, "tenant-"+strconv.Itoa(i), w, 0); err != nil || d != 0 {
			t.Fatalf("tenant %d: wait %s, err %v", i, d, err)
		}
		most = max(most, len(m.keys))
		c.advance(10 * time.Millisecond) // ~6,200 tenants inside a minute
	}
	if most > DefaultMaxKeys {
		t.Fatalf("%d keys held at once, over the cap of %d", most, DefaultMaxKeys)
	}
	c.advance(2 * time.Minute)
	busy := []Window{{Limit: 1 << 30, Period: time.Minute}}
	for range max(len(m.keys), sweepEvery) { // one busy key: enough calls for a sweep
		if _, err := m.Reserve(ctx, "regular", busy, 0); err != nil {
			t.Fatal(err)
		}
	}
	if len(m.keys) != 1 {
		t.Fatalf("%d keys two minutes after the last tenant left, want 1", len(m.keys))
	}
}

// A key whose grants are still inside a window, and a paused key, survive
// any amount of churn however long they sit unused, and keep their limits.
func TestMemoryKeepsLiveKeys(t *testing.T) {
	m, c := newTestMemory()
	day := []Window{{Limit: 5, Period: 24 * time.Hour}}
	for range 5 {
		if _, err := m.Reserve(ctx, "hot", day, 0); err != nil {
			t.Fatal(err)
		}
	}
	if err := m.Pause(ctx, "paused", time.Hour); err != nil {
		t.Fatal(err)
	}
	second := []Window{{Limit: 1, Period: time.Second}}
	for i := range 20000 { // 33 minutes of one-off tenants
		if _, err := m.Reserve(ctx, "churn-"+strconv.Itoa(i), second, 0); err != nil {
			t.Fatal(err)
		}
		c.advance(100 * time.Millisecond)
	}
	if len(m.keys) > 2+sweepEvery+30 {
		t.Fatalf("%d keys after the churn: expired keys were kept", len(m.keys))
	}
	_, err := m.Reserve(ctx, "hot", day, time.Hour)
	var de *DelayError
	if !errors.As(err, &de) || de.RetryAfter < 23*time.Hour {
		t.Fatalf("hot key: %v; its five grants of the day were forgotten", err)
	}
	if d, err := m.Reserve(ctx, "paused", second, time.Hour); err != nil || d < 26*time.Minute || d > 28*time.Minute {
		t.Fatalf("paused key: wait %s (%v), want the rest of its hour", d, err)
	}
}

// When MaxKeys keys are all live, a new key is refused until the soonest
// of them expires; none of them is forgotten to make room.
func TestMemoryCapRefusesNewKeysNotLiveOnes(t *testing.T) {
	m, c := newTestMemory()
	m.MaxKeys = 100
	w := []Window{{Limit: 1, Period: time.Minute}}
	for i := range 100 {
		if _, err := m.Reserve(ctx, "k"+strconv.Itoa(i), w, 0); err != nil {
			t.Fatal(err)
		}
	}
	c.advance(30 * time.Second)
	_, err := m.Reserve(ctx, "late", w, time.Hour)
	var de *DelayError
	if !errors.As(err, &de) || de.RetryAfter < 30*time.Second || de.RetryAfter > 32*time.Second {
		t.Fatalf("new key with the table full of live keys: %v, want a DelayError of ~31 s", err)
	}
	if err := m.Pause(ctx, "late", time.Minute); !errors.As(err, &de) {
		t.Fatalf("pause of a new key with the table full: %v", err)
	}
	for i := range 100 {
		if d, err := m.Reserve(ctx, "k"+strconv.Itoa(i), w, time.Hour); err != nil || d < 30*time.Second {
			t.Fatalf("k%d: wait %s (%v): its grant was forgotten", i, d, err)
		}
	}
	c.advance(2 * time.Minute)
	if d, err := m.Reserve(ctx, "late", w, 0); err != nil || d != 0 {
		t.Fatalf("once the window passed: wait %s, err %v", d, err)
	}
	if len(m.keys) > 100 {
		t.Fatalf("%d keys, cap 100", len(m.keys))
	}
}

// A hostile Retry-After holds a credential for DefaultMaxPause at most, whatever
// its size; zero and negative pauses store nothing.
func TestMemoryPauseIsClamped(t *testing.T) {
	m, _ := newTestMemory()
	w := []Window{{Limit: 10, Period: time.Minute}}
	for _, d := range []time.Duration{999999999 * time.Second, 9223372036 * time.Second, math.MaxInt64} {
		key := d.String()
		if err := m.Pause(ctx, key, d); err != nil {
			t.Fatal(err)
		}
		if got, err := m.Reserve(ctx, key, w, math.MaxInt64); err != nil || got != DefaultMaxPause {
			t.Fatalf("Pause(%s): wait %s (%v), want %s", d, got, err, DefaultMaxPause)
		}
	}
	for _, d := range []time.Duration{0, -5 * time.Second, math.MinInt64} {
		if err := m.Pause(ctx, "neg", d); err != nil {
			t.Fatal(err)
		}
	}
	if st := m.keys["neg"]; st != nil {
		t.Fatalf("a pause of <= 0 stored %+v", *st)
	}
}

// Nothing is booked further ahead than DefaultMaxPause, whatever the caller's
// deadline: a day window used up is a DelayError, not a 24-hour sleep.
func TestMemoryBooksNoFurtherThanMaxPause(t *testing.T) {
	m, _ := newTestMemory()
	w := []Window{{Limit: 1, Period: 24 * time.Hour}}
	if _, err := m.Reserve(ctx, "k", w, 0); err != nil {
		t.Fatal(err)
	}
	_, err := m.Reserve(ctx, "k", w, 1000*time.Hour)
	var de *DelayError
	if !errors.As(err, &de) || de.RetryAfter < 24*time.Hour {
		t.Fatalf("err = %v, want a DelayError of a day", err)
	}
}
