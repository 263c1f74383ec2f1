package events_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/crm-mcp/crm-mcp/vendors/events"
	"github.com/crm-mcp/crm-mcp/vendors/redistest"
)

// clock is a settable time for the bounds tests.
type clock struct{ ns atomic.Int64 }

func newClock() *clock { c := &clock{}; c.ns.Store(time.Now().UnixNano()); return c }

func (c *clock) now() time.Time                       { return time.Unix(0, c.ns.Load()) }
func (c *clock) add(d time.Duration)                  { c.ns.Add(int64(d)) }
func (c *clock) opts(o events.Options) events.Options { o.Now = c.now; return o }

// logs opens one log of each kind with o; each is closed when the test ends.
func logs(t *testing.T, o events.Options) map[string]events.Log {
	t.Helper()
	d, err := events.OpenDisk(t.TempDir(), o)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]events.Log{"memory": events.NewMemory(o), "disk": d, "redis": events.NewRedis(redistest.Client(t), o)}
	for _, l := range out {
		t.Cleanup(func() { _ = l.Close() })
	}
	return out
}

func ev(vendor, typ, rec string) events.Event {
	return events.Event{Vendor: vendor, Type: typ, RecordKind: "contact", RecordID: rec, Payload: json.RawMessage(`{"id":"` + rec + `"}`)}
}

func mustAppend(t *testing.T, l events.Log, e events.Event, key string) bool {
	t.Helper()
	ok, err := l.Append(context.Background(), e, key)
	if err != nil {
		t.Fatal(err)
	}
	return ok
}

func list(t *testing.T, l events.Log, q events.Query) ([]events.Event, string) {
	t.Helper()
	evs, next, err := l.List(context.Background(), q)
	if err != nil {
		t.Fatal(err)
	}
	return evs, next
}

func ids(evs []events.Event) []string {
	out := make([]string, len(evs))
	for i, e := range evs {
		out[i] = e.RecordID
	}
	return out
}

func TestAppendListAndCursors(t *testing.T) {
	for name, l := range logs(t, events.Options{}) {
		t.Run(name, func(t *testing.T) {
			if evs, next := list(t, l, events.Query{}); len(evs) != 0 || next != "" {
				t.Fatalf("empty log: %v %q", evs, next)
			}
			mustAppend(t, l, ev("vivre", "contact.created", "a"), "")
			mustAppend(t, l, ev("qyvo", "message_received", "b"), "")
			mustAppend(t, l, ev("vivre", "deal.won", "c"), "")
			mustAppend(t, l, ev("vivre", "contact.created", "d"), "")
			all, next := list(t, l, events.Query{})
			if got := strings.Join(ids(all), ""); got != "abcd" {
				t.Fatalf("all: %s", got)
			}
			if next != all[3].ID {
				t.Errorf("next %q, want the last id %q", next, all[3].ID)
			}
			for i, e := range all {
				if e.ID == "" || e.ReceivedAt.IsZero() || !e.OccurredAt.Equal(e.ReceivedAt) || string(e.Payload) != `{"id":"`+e.RecordID+`"}` {
					t.Errorf("event %d: %+v", i, e)
				}
			}
			page, next := list(t, l, events.Query{Limit: 2})
			if got := strings.Join(ids(page), ""); got != "ab" || next != all[1].ID {
				t.Fatalf("first page %s next %q", got, next)
			}
			page, next = list(t, l, events.Query{Limit: 2, After: next})
			if got := strings.Join(ids(page), ""); got != "cd" || next != all[3].ID {
				t.Fatalf("second page %s next %q", got, next)
			}
			page, again := list(t, l, events.Query{After: next})
			if len(page) != 0 || again != next {
				t.Fatalf("after the end: %v, next %q (want %q kept)", ids(page), again, next)
			}
			page, next = list(t, l, events.Query{Vendor: "vivre", Types: []string{"contact.created"}})
			if got := strings.Join(ids(page), ""); got != "ad" || next != all[3].ID {
				t.Fatalf("filtered: %s next %q", got, next)
			}
			page, next = list(t, l, events.Query{Vendor: "qyvo", After: all[1].ID})
			if len(page) != 0 || next != all[3].ID {
				t.Fatalf("filter with nothing newer: %v next %q: next must move past what was looked at", ids(page), next)
			}
			for _, bad := range []string{"x", "12-x", "-1", "1-2-3", strings.Repeat("9", 60)} {
				if _, _, err := l.List(context.Background(), events.Query{After: bad}); !errors.Is(err, events.ErrBadCursor) {
					t.Errorf("cursor %q: %v", bad, err)
				}
			}
			mustAppend(t, l, ev("vivre", "deal.won", "e"), "")
			page, _ = list(t, l, events.Query{After: all[3].ID})
			if got := strings.Join(ids(page), ""); got != "e" {
				t.Fatalf("newer than the cursor: %s", got)
			}
		})
	}
}

func TestAppendRefuses(t *testing.T) {
	for name, l := range logs(t, events.Options{}) {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			for _, e := range []events.Event{
				{Type: "x"},
				{Vendor: "v"},
				{Vendor: "v", Type: "x", Payload: json.RawMessage(`{not json`)},
				{Vendor: "v", Type: "x", Payload: json.RawMessage(`"` + strings.Repeat("a", events.MaxPayload) + `"`)},
			} {
				if ok, err := l.Append(ctx, e, ""); ok || err == nil {
					t.Errorf("%.60v: stored %v, err %v", e, ok, err)
				}
			}
			if evs, _ := list(t, l, events.Query{}); len(evs) != 0 {
				t.Fatalf("refused events were stored: %v", evs)
			}
		})
	}
}

func TestDuplicatesAreStoredOnce(t *testing.T) {
	for name, l := range logs(t, events.Options{}) {
		t.Run(name, func(t *testing.T) {
			if !mustAppend(t, l, ev("vivre", "deal.won", "a"), events.Key("vivre", "evt_1")) {
				t.Fatal("first append not stored")
			}
			if mustAppend(t, l, ev("vivre", "deal.won", "a2"), events.Key("vivre", "evt_1")) {
				t.Fatal("same key stored twice")
			}
			body := []byte(`{"event":"x"}`)
			mustAppend(t, l, ev("vixiees", "x", "b"), events.BodyKey("vixiees", body))
			if mustAppend(t, l, ev("vixiees", "x", "b"), events.BodyKey("vixiees", append([]byte{}, body...))) {
				t.Fatal("same body stored twice")
			}
			long := events.Key("vivre", strings.Repeat("z", 5000))
			mustAppend(t, l, ev("vivre", "x", "c"), long)
			if mustAppend(t, l, ev("vivre", "x", "c"), long) {
				t.Fatal("a long key was stored twice")
			}
			mustAppend(t, l, ev("vivre", "x", "d"), "")
			mustAppend(t, l, ev("vivre", "x", "d"), "") // no key: no dedupe
			var wg sync.WaitGroup
			var wins atomic.Int32
			for range 20 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					if ok, err := l.Append(context.Background(), ev("vivre", "race", "r"), "race"); ok && err == nil {
						wins.Add(1)
					}
				}()
			}
			wg.Wait()
			if wins.Load() != 1 {
				t.Fatalf("%d concurrent appends of one key stored", wins.Load())
			}
			evs, _ := list(t, l, events.Query{})
			if got := strings.Join(ids(evs), ""); got != "abcddr" {
				t.Fatalf("stored: %s", got)
			}
		})
	}
}

func TestBounds(t *testing.T) {
	c := newClock()
	for name, l := range logs(t, c.opts(events.Options{Max: 3, MaxAge: time.Hour})) {
		t.Run(name, func(t *testing.T) {
			for _, r := range []string{"a", "b", "c", "d", "e"} {
				mustAppend(t, l, ev("vivre", "x", r), "")
			}
			evs, _ := list(t, l, events.Query{})
			if name != "redis" { // Redis trims about Max (whole stream nodes)
				if got := strings.Join(ids(evs), ""); got != "cde" {
					t.Fatalf("with Max 3: %s", got)
				}
			}
			old := ev("vivre", "x", "old")
			old.OccurredAt = time.Now().Add(-3 * time.Hour) // before MaxAge on every clock here
			if mustAppend(t, l, old, "old") {
				t.Fatal("an event older than MaxAge was stored")
			}
			if name == "redis" {
				return // Redis's clock is the real one: TestRedisTrims
			}
			c.add(2 * time.Hour)
			if evs, _ := list(t, l, events.Query{}); len(evs) != 0 {
				t.Fatalf("after MaxAge: %v", ids(evs))
			}
			mustAppend(t, l, ev("vivre", "x", "f"), "")
			if evs, _ := list(t, l, events.Query{After: evs[0].ID}); strings.Join(ids(evs), "") != "f" {
				t.Fatalf("an old cursor after MaxAge: %v", ids(evs))
			}
		})
	}
}

// A dedupe key is kept as long as its event (memory, disk): once trimmed
// away, the same key is stored again; a kept one is still refused, also
// after the disk log is reopened (its trim reads the stored count).
func TestTrimmedKeysAreForgotten(t *testing.T) {
	o := events.Options{Max: 3}
	dir := t.TempDir()
	d, err := events.OpenDisk(dir, o)
	if err != nil {
		t.Fatal(err)
	}
	for name, l := range map[string]events.Log{"memory": events.NewMemory(o), "disk": d} {
		t.Run(name, func(t *testing.T) {
			for _, k := range []string{"k1", "k2", "k3", "k4", "k5"} {
				mustAppend(t, l, ev("vivre", "x", k), k)
			}
			if mustAppend(t, l, ev("vivre", "x", "k5"), "k5") {
				t.Fatal("a kept key was stored again")
			}
			if !mustAppend(t, l, ev("vivre", "x", "k1"), "k1") {
				t.Fatal("a trimmed event's key still refused its event")
			}
			if evs, _ := list(t, l, events.Query{}); strings.Join(ids(evs), ",") != "k4,k5,k1" {
				t.Fatalf("kept: %v", ids(evs))
			}
		})
	}
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	d, err = events.OpenDisk(dir, events.Options{Max: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if evs, _ := list(t, d, events.Query{}); strings.Join(ids(evs), ",") != "k5,k1" {
		t.Fatalf("reopened with Max 2: %v", ids(evs))
	}
	if mustAppend(t, d, ev("vivre", "x", "k5"), "k5") || !mustAppend(t, d, ev("vivre", "x", "k4"), "k4") {
		t.Fatal("after reopening, the kept key k5 or the trimmed key k4 was decided wrongly")
	}
}

// Redis trims by age itself (XTRIM MINID with its own clock) and keeps
// about Max entries.
func TestRedisTrims(t *testing.T) {
	rdb := redistest.Client(t)
	l := events.NewRedis(rdb, events.Options{Max: 100})
	for i := range 1000 {
		mustAppend(t, l, ev("vivre", "x", fmt.Sprint(i)), "")
	}
	n, err := rdb.XLen(context.Background(), "{crm-mcp:events}:stream").Result()
	if err != nil || n > 300 || n < 100 {
		t.Fatalf("stream length %d (%v); want about 100", n, err)
	}
	aged := events.NewRedis(rdb, events.Options{MaxAge: 50 * time.Millisecond, Namespace: "aged"})
	mustAppend(t, aged, ev("vivre", "x", "a"), "k")
	deadline := time.Now().Add(30 * time.Second)
	for {
		time.Sleep(60 * time.Millisecond)
		for range 10 { // XTRIM ~ drops whole stream nodes (4 KiB): fill one
			mustAppend(t, aged, ev("vivre", "x", "b"), "")
		}
		first, _ := rdb.XRangeN(context.Background(), "{aged}:stream", "-", "+", 1).Result()
		ttl, _ := rdb.PTTL(context.Background(), "{aged}:seen:k").Result()
		if len(first) == 1 && !strings.Contains(first[0].Values["e"].(string), `"i":"a"`) && ttl < 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the old entry or its key was not trimmed: %v, key ttl %v", first, ttl)
		}
	}
}

func TestNotify(t *testing.T) {
	for name, l := range logs(t, events.Options{}) {
		t.Run(name, func(t *testing.T) {
			ch, cancel := l.Notify()
			other, cancelOther := l.Notify()
			cancelOther()
			if _, ok := <-other; ok {
				t.Fatal("a cancelled channel is not closed")
			}
			time.Sleep(50 * time.Millisecond) // Redis: let the watcher subscribe (the periodic check covers it anyway)
			mustAppend(t, l, ev("vivre", "x", "a"), "")
			select {
			case <-ch:
			case <-time.After(15 * time.Second):
				t.Fatal("no notification")
			}
			cancel()
			_ = l.Close()
			ch2, _ := l.Notify()
			if _, ok := <-ch2; ok {
				t.Fatal("Notify after Close: the channel is not closed")
			}
			if _, err := l.Append(context.Background(), ev("vivre", "x", "b"), ""); !errors.Is(err, events.ErrClosed) {
				t.Fatalf("Append after Close: %v", err)
			}
			if _, _, err := l.List(context.Background(), events.Query{}); !errors.Is(err, events.ErrClosed) {
				t.Fatalf("List after Close: %v", err)
			}
		})
	}
}

func TestCloseClosesSubscriptions(t *testing.T) {
	for name, l := range logs(t, events.Options{}) {
		t.Run(name, func(t *testing.T) {
			ch, _ := l.Notify()
			_ = l.Close()
			select {
			case _, ok := <-ch:
				if ok {
					t.Fatal("a value instead of closing")
				}
			case <-time.After(10 * time.Second):
				t.Fatal("Close left a subscription open")
			}
		})
	}
}

// Two replicas on one Redis: what one stores the other lists, and is told of.
func TestRedisReplicasShareEvents(t *testing.T) {
	url := redistest.URL(t)
	a := events.NewRedis(redistest.ClientFor(t, url), events.Options{})
	b := events.NewRedis(redistest.ClientFor(t, url), events.Options{})
	defer a.Close()
	defer b.Close()
	ch, cancel := b.Notify()
	defer cancel()
	time.Sleep(50 * time.Millisecond)
	mustAppend(t, a, ev("vivre", "deal.won", "a"), "k")
	select {
	case <-ch:
	case <-time.After(15 * time.Second):
		t.Fatal("replica b was not told")
	}
	if evs, _ := list(t, b, events.Query{}); strings.Join(ids(evs), "") != "a" {
		t.Fatalf("replica b lists %v", ids(evs))
	}
	if mustAppend(t, b, ev("vivre", "deal.won", "a"), "k") {
		t.Fatal("replica b stored what a had")
	}
}

// What the disk log acknowledged is there after a restart, dedupe keys too,
// and ids keep growing.
func TestDiskSurvivesRestart(t *testing.T) {
	dir := t.TempDir()
	d, err := events.OpenDisk(dir, events.Options{})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 50 {
		mustAppend(t, d, ev("vivre", "x", fmt.Sprint(i)), fmt.Sprint("k", i))
	}
	before, _ := list(t, d, events.Query{})
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	d, err = events.OpenDisk(dir, events.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	after, next := list(t, d, events.Query{})
	if len(after) != 50 || after[49].ID != before[49].ID {
		t.Fatalf("after restart: %d events, last %q (was %q)", len(after), next, before[49].ID)
	}
	if mustAppend(t, d, ev("vivre", "x", "0"), "k0") {
		t.Fatal("a duplicate was stored after restart")
	}
	mustAppend(t, d, ev("vivre", "x", "new"), "")
	if evs, _ := list(t, d, events.Query{After: next}); len(evs) != 1 || evs[0].RecordID != "new" {
		t.Fatalf("after the old cursor: %v", ids(evs))
	}
}

func TestDiskIsOneProcessAtATime(t *testing.T) {
	dir := t.TempDir()
	d, err := events.OpenDisk(dir, events.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if _, err := events.OpenDisk(dir, events.Options{}); err == nil || !strings.Contains(err.Error(), "in use") {
		t.Fatalf("a second open: %v", err)
	}
}

// An append whose caller gave up may or may not be stored, and a retry
// with the same key is safe either way.
func TestCancelledAppendThenRetry(t *testing.T) {
	for name, l := range logs(t, events.Options{}) {
		t.Run(name, func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			cancel()
			_, _ = l.Append(ctx, ev("vivre", "x", "a"), "k")
			_, _ = l.Append(context.Background(), ev("vivre", "x", "a"), "k")
			if evs, _ := list(t, l, events.Query{}); len(evs) != 1 {
				t.Fatalf("%d events", len(evs))
			}
		})
	}
}

func TestTrim(t *testing.T) {
	long := strings.Repeat("é", 900)
	for _, c := range []struct{ in, want string }{
		{`{"a":1,"b":"x"}`, `{"a":1,"b":"x"}`},
		{`{"n":12345678901234567890}`, `{"n":12345678901234567890}`},
		{`{"s":"` + long + `"}`, `{"s":"` + long[:1000] + `…"}`},
		{`{"a":{"b":{"c":{"d":{"e":1}}}}}`, `{"a":{"b":{"c":{}}}}`},
		{`[1,2]`, `[1,2]`},
		{`null`, ``},
		{`{bad`, ``},
		{`{"a":1} {"b":2}`, ``},
		{`{"x":"<b>"}`, `{"x":"<b>"}`},
	} {
		if got := string(events.Trim([]byte(c.in))); got != c.want {
			t.Errorf("Trim(%.40s) = %.80s, want %.80s", c.in, got, c.want)
		}
	}
	var big strings.Builder
	big.WriteString(`{"top":"keep"`)
	for i := range 200 {
		fmt.Fprintf(&big, `,"k%03d":["%s"]`, i, strings.Repeat("x", 400))
	}
	big.WriteString(`}`)
	out := events.Trim([]byte(big.String()))
	if len(out) > events.TrimmedMax || !json.Valid(out) || !strings.Contains(string(out), `"top":"keep"`) {
		t.Fatalf("big payload: %d bytes: %.200s", len(out), out)
	}
	arr := `[` + strings.Repeat(`"`+strings.Repeat("y", 300)+`",`, 100) + `1]`
	if out := events.Trim([]byte(arr)); len(out) > events.TrimmedMax || !json.Valid(out) {
		t.Fatalf("big array: %d bytes", len(out))
	}
}
