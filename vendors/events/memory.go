package events

import (
	"context"
	"slices"
	"sort"
	"sync"
	"time"
)

// Memory is the in-process Log: lost when the process ends.
type Memory struct {
	o      Options
	mu     sync.Mutex
	evs    []memEvent // oldest first
	seen   map[string]id
	last   id
	closed bool
	n      notifier
}

type memEvent struct {
	id  id
	key string
	e   Event
}

// NewMemory returns an empty in-process log.
func NewMemory(o Options) *Memory {
	return &Memory{o: o.withDefaults(), seen: map[string]id{}}
}

// Append implements Log.
func (m *Memory) Append(ctx context.Context, e Event, key string) (bool, error) {
	if err := ctx.Err(); err != nil {
		return false, err
	}
	now := m.o.Now()
	keep, err := prepare(&e, now, m.o.MaxAge)
	if err != nil || !keep {
		return false, err
	}
	if key != "" {
		key = normKey(key)
	}
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return false, ErrClosed
	}
	if _, dup := m.seen[key]; dup && key != "" {
		m.mu.Unlock()
		return false, nil
	}
	m.last = m.last.after(unixMs(now))
	e.ID = m.last.String()
	e.Payload = slices.Clone(e.Payload) // the caller may reuse its buffer
	m.evs = append(m.evs, memEvent{m.last, key, e})
	if key != "" {
		m.seen[key] = m.last
	}
	m.trim(now)
	m.mu.Unlock()
	m.n.broadcast()
	return true, nil
}

// trim drops the oldest events beyond Max or MaxAge; m.mu held.
func (m *Memory) trim(now time.Time) {
	minMs := unixMs(now.Add(-m.o.MaxAge))
	drop := 0
	for drop < len(m.evs) && (len(m.evs)-drop > m.o.Max || m.evs[drop].id.ms < minMs) {
		if ev := m.evs[drop]; ev.key != "" && m.seen[ev.key] == ev.id {
			delete(m.seen, ev.key)
		}
		m.evs[drop] = memEvent{}
		drop++
	}
	m.evs = m.evs[drop:]
}

// List implements Log.
func (m *Memory) List(ctx context.Context, q Query) ([]Event, string, error) {
	if err := ctx.Err(); err != nil {
		return nil, "", err
	}
	after, err := cursor(q.After)
	if err != nil {
		return nil, "", err
	}
	limit := q.limit()
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return nil, "", ErrClosed
	}
	minMs := unixMs(m.o.Now().Add(-m.o.MaxAge))
	i := sort.Search(len(m.evs), func(i int) bool { return after.less(m.evs[i].id) && m.evs[i].id.ms >= minMs })
	out := []Event{}
	next := q.After
	for scanned := 0; i < len(m.evs) && scanned < MaxScan && len(out) < limit; i, scanned = i+1, scanned+1 {
		ev := m.evs[i]
		next = ev.id.String()
		if q.match(ev.e.Vendor, ev.e.Type) {
			out = append(out, ev.e)
		}
	}
	return out, next, nil
}

// Notify implements Log.
func (m *Memory) Notify() (<-chan struct{}, func()) { return m.n.subscribe() }

// Close implements Log.
func (m *Memory) Close() error {
	m.mu.Lock()
	m.closed = true
	m.evs, m.seen = nil, nil
	m.mu.Unlock()
	m.n.close()
	return nil
}
