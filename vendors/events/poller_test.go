package events_test

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/crm-mcp/crm-mcp/vendors/events"
	"github.com/crm-mcp/crm-mcp/vendors/redistest"
)

// feed is a fake vendor feed: the entries it shows and how often it was read.
type feed struct {
	mu      sync.Mutex
	entries []events.Entry
	reads   atomic.Int32
	fail    atomic.Bool
}

func (f *feed) add(rec string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.entries = append(f.entries, events.Entry{Event: ev("qyvo", "message_received", rec), Key: events.Key("qyvo", rec)})
}

func (f *feed) fetch(context.Context) ([]events.Entry, error) {
	f.reads.Add(1)
	if f.fail.Load() {
		return nil, errors.New("feed down")
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]events.Entry{}, f.entries...), nil
}

func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("timed out waiting: " + what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func run(t *testing.T, p *events.Poller) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { p.Run(ctx); close(done) }()
	stop = func() {
		cancel()
		<-done
	}
	t.Cleanup(stop)
	return stop
}

func count(t *testing.T, l events.Log) int {
	evs, _ := list(t, l, events.Query{Limit: events.MaxLimit})
	return len(evs)
}

// Every feed is read in turn; each record becomes one event, however many
// times the feed shows it, and a failing fetch is tried again.
func TestPollerStoresEachRecordOnce(t *testing.T) {
	l := events.NewMemory(events.Options{})
	a, b := &feed{}, &feed{}
	a.add("a1")
	a.add("a2")
	b.add("b1")
	var observed atomic.Int32
	p := events.NewPoller(events.PollerOptions{Log: l, Every: 5 * time.Millisecond,
		Feeds:   []events.Feed{{Name: "a", Fetch: a.fetch}, {Name: "b", Fetch: b.fetch}},
		Observe: func(string, int, error) { observed.Add(1) }})
	stop := run(t, p)
	eventually(t, "3 events", func() bool { return count(t, l) == 3 })
	a.add("a3")
	b.fail.Store(true)
	eventually(t, "the new record", func() bool { return count(t, l) == 4 })
	r := b.reads.Load()
	eventually(t, "reading the failing feed again", func() bool { return b.reads.Load() > r+2 })
	b.add("b2")
	b.fail.Store(false)
	eventually(t, "the record of the feed that came back", func() bool { return count(t, l) == 5 })
	r = a.reads.Load()
	eventually(t, "more rounds", func() bool { return a.reads.Load() > r+5 })
	stop()
	if n := count(t, l); n != 5 {
		t.Fatalf("%d events, want 5", n)
	}
	if p.Leading() {
		t.Fatal("a stopped poller says it leads")
	}
	if observed.Load() == 0 {
		t.Fatal("Observe was never called")
	}
}

// Two replicas on one Redis: one holds the lock and polls, the other does
// not; when the holder loses the lock it stops, and when it stops the other
// takes over.
func TestOnlyTheLockHolderPolls(t *testing.T) {
	url := redistest.URL(t)
	rdb := redistest.ClientFor(t, url)
	l := events.NewRedis(rdb, events.Options{})
	defer l.Close()
	fa, fb := &feed{}, &feed{}
	fa.add("x")
	fb.add("x")
	mk := func(f *feed) *events.Poller {
		return events.NewPoller(events.PollerOptions{Log: l, Every: 5 * time.Millisecond, LockTTL: 3 * time.Second,
			Lock:  events.NewRedisLock(redistest.ClientFor(t, url), "crm-mcp:poller:test"),
			Feeds: []events.Feed{{Name: "f", Fetch: f.fetch}}})
	}
	pa, pb := mk(fa), mk(fb)
	stopA := run(t, pa)
	eventually(t, "a leads", pa.Leading)
	run(t, pb)
	time.Sleep(1500 * time.Millisecond) // b tries the lock at once and then every second
	if pb.Leading() || fb.reads.Load() != 0 {
		t.Fatalf("b leads %v and read its feed %d times while a held the lock", pb.Leading(), fb.reads.Load())
	}
	// a loses the lock (someone else took it): it stops polling.
	if err := rdb.Set(context.Background(), "crm-mcp:poller:test", "intruder", 1500*time.Millisecond).Err(); err != nil {
		t.Fatal(err)
	}
	eventually(t, "a stops leading", func() bool { return !pa.Leading() })
	r := fa.reads.Load()
	time.Sleep(50 * time.Millisecond)
	if fa.reads.Load() > r+1 {
		t.Fatalf("a kept polling without the lock: %d reads after losing it", fa.reads.Load()-r)
	}
	eventually(t, "the intruder's lock expires and a or b takes over", func() bool { return pa.Leading() || pb.Leading() })
	if pa.Leading() && pb.Leading() {
		t.Fatal("both lead")
	}
	if pa.Leading() {
		stopA() // releases the lock: b takes over
		eventually(t, "b leads", pb.Leading)
	}
	eventually(t, "b polls", func() bool { return fb.reads.Load() > 0 })
	if n := count(t, l); n != 1 {
		t.Fatalf("%d events; both feeds hold one record", n)
	}
}
