package ratelimit_test

import (
	"context"
	"errors"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/crm-mcp/crm-mcp/vendors/ratelimit"
	"github.com/crm-mcp/crm-mcp/vendors/redistest"
)

func TestRedisBurstThenDelay(t *testing.T) {
	l := ratelimit.NewRedis(redistest.Client(t))
	ctx := context.Background()
	w := []ratelimit.Window{{Limit: 10, Period: time.Minute}}
	for i := range 10 {
		if d, err := l.Reserve(ctx, "k", w, time.Second); err != nil || d != 0 {
			t.Fatalf("request %d: %s %v", i, d, err)
		}
	}
	_, err := l.Reserve(ctx, "k", w, time.Second)
	var de *ratelimit.DelayError
	if !errors.As(err, &de) || de.RetryAfter < 59*time.Second {
		t.Fatalf("11th: %v", err)
	}
}

func TestRedisPause(t *testing.T) {
	l := ratelimit.NewRedis(redistest.Client(t))
	ctx := context.Background()
	w := []ratelimit.Window{{Limit: 10, Period: time.Minute}}
	if err := l.Pause(ctx, "k", 20*time.Second); err != nil {
		t.Fatal(err)
	}
	d, err := l.Reserve(ctx, "k", w, time.Minute)
	if err != nil || d < 19*time.Second || d > 21*time.Second {
		t.Fatalf("after pause: %s %v", d, err)
	}
}

// Several replicas (separate clients, concurrent) share one budget: the
// granted slots never exceed any window, counted on one timeline.
func TestRedisReplicasShareOneBudget(t *testing.T) {
	url := redistest.URL(t)
	windows := []ratelimit.Window{{Limit: 40, Period: 2 * time.Second}, {Limit: 60, Period: time.Minute}}
	var mu sync.Mutex
	var grants []time.Time
	var wg sync.WaitGroup
	for range 3 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			l := ratelimit.NewRedis(redistest.ClientFor(t, url))
			for range 30 {
				now := time.Now()
				d, err := l.Reserve(context.Background(), "shared", windows, 10*time.Second)
				if err != nil {
					continue
				}
				mu.Lock()
				grants = append(grants, now.Add(d))
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	sort.Slice(grants, func(i, j int) bool { return grants[i].Before(grants[j]) })
	if len(grants) != 60 {
		t.Fatalf("%d grants within 10 s, want exactly the minute's 60", len(grants))
	}
	for _, w := range windows {
		for i, g := range grants {
			n := 0
			for j := i; j >= 0 && grants[j].After(g.Add(-w.Period)); j-- {
				n++
			}
			if n > w.Limit {
				t.Fatalf("%d grants in a %s window", n, w)
			}
		}
	}
}

// A full window frees up once its grants age out: the running count and
// the pruning agree with the walk.
func TestRedisWindowFreesUp(t *testing.T) {
	l := ratelimit.NewRedis(redistest.Client(t))
	ctx := context.Background()
	w := []ratelimit.Window{{Limit: 3, Period: 200 * time.Millisecond}}
	for range 3 {
		if d, err := l.Reserve(ctx, "k", w, time.Second); err != nil || d != 0 {
			t.Fatalf("burst: %s %v", d, err)
		}
	}
	d, err := l.Reserve(ctx, "k", w, time.Second)
	if err != nil || d < 200*time.Millisecond {
		t.Fatalf("4th: wait %s (%v), want the window to pass first", d, err)
	}
	time.Sleep(d + 100*time.Millisecond) // only a lower bound matters
	if d, err := l.Reserve(ctx, "k", w, time.Second); err != nil || d != 0 {
		t.Fatalf("after the window: wait %s (%v), want 0", d, err)
	}
	for range 30 { // many windows later the count stays right
		if _, err := l.Reserve(ctx, "k", w, 10*time.Second); err != nil {
			t.Fatal(err)
		}
	}
}
