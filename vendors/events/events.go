// Package events is the log of what happened at the vendors: webhooks they
// send (Vivre, Vixiees) and records read from their polling feeds (Qyvo's
// triggers), kept so that agents can read them (a tool, resources,
// subscriptions). Nothing here knows about MCP or about any one vendor.
//
// # The API
//
//	type Event struct {
//		ID         string          // assigned by the log; "<ms>-<seq>"
//		Vendor     string          // "vivre", "vixiees", "qyvo"
//		Type       string          // the vendor's own name: "deal.stage_changed", "deal_updated", "message_received"
//		OccurredAt time.Time       // when it happened, as the vendor says (else ReceivedAt)
//		ReceivedAt time.Time       // when it reached us (set by Append when zero)
//		RecordKind string          // what it is about: "contact", "deal", "activity", ... ("" if unknown)
//		RecordID   string          // that record's vendor id ("" if unknown)
//		Payload    json.RawMessage // the vendor's data, trimmed (see Trim)
//	}
//
//	type Log interface {
//		Append(ctx context.Context, e Event, dedupeKey string) (stored bool, err error)
//		List(ctx context.Context, q Query) (events []Event, next string, err error)
//		Notify() (ch <-chan struct{}, cancel func())
//		Close() error
//	}
//
//	type Query struct{ Vendor string; Types []string; After string; Limit int }
//
// Three implementations keep the same contract (one test suite runs on all):
//
//   - NewMemory: in process, lost on exit. For --sandbox and stdio.
//   - OpenDisk: a bbolt file in a directory (CRM_MCP_DATA_DIR), one process
//     at a time; an event Append reported stored is on disk (fsync) and
//     survives a crash or restart.
//   - NewRedis: a Redis stream every replica shares; an event Append reported
//     stored is in Redis (as durable as Redis is configured to be), every
//     replica lists it at once, and every replica's Notify fires for it.
//
// # Ids and cursors
//
// Ids are "<unix ms>-<seq>" (a Redis stream id; the other logs make the same
// shape) and grow with every Append: an event is listed only after every
// event with a smaller id is, so "newer than the last id I saw" never misses
// one. Treat ids as opaque: pass the last one seen (or the next List
// returned) as Query.After. A cursor that does not parse is ErrBadCursor.
//
// List returns events oldest first, after q.After, of q.Vendor (if set) and
// one of q.Types (if any), at most q.Limit (0: DefaultLimit; at most
// MaxLimit). next is where to continue: the id of the last event looked at
// (returned or filtered out), or q.After when there was none (so it is ""
// only while nothing has been seen): keep it and poll with it. A page of
// q.Limit events means more may be waiting now. One List looks at no more
// than MaxScan events, so a narrow filter over a long log may return fewer
// than q.Limit events (even none) with next moved on: call again.
//
// # Bounds
//
// A log keeps at most Options.Max events (about: Redis trims by whole
// stream nodes) and none received more than Options.MaxAge ago; the oldest
// go first. An event whose OccurredAt is more than MaxAge ago is not stored
// (Append returns false, nil). Payloads are at most MaxPayload bytes.
//
// # Duplicates
//
// A vendor sends an event again when it did not see our answer, and a feed
// shows a record on every poll. Append takes a dedupeKey (Key for a vendor's
// event id, BodyKey for the digest of a body without one; "" for none): an
// event whose key the log has seen is not stored again (false, nil). Keys
// are remembered as long as their event is kept (memory, disk) or for
// MaxAge (Redis, where keys expire on their own).
//
// # Notifications
//
// Notify returns a channel that receives a value after events were stored
// (by any replica, for Redis: within milliseconds through Pub/Sub, at worst
// a couple of seconds by a periodic check). Values coalesce (buffer of 1):
// on each, List from your cursor. cancel stops and closes the channel;
// Close closes every channel.
//
// # Polling
//
// A Poller reads Feeds (functions returning entries, each an Event and its
// dedupe key) in turn, one fetch every Every, and appends what it has not
// seen. With a Lock (NewRedisLock) only the replica that holds it polls; a
// replica that loses it (or cannot renew it in time) stops until it holds it
// again. A fetch started just before the lease ran out may overlap with the
// next holder's: dedupe keys make that harmless.
package events

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Event is one thing that happened at a vendor.
type Event struct {
	ID         string          `json:"id"`
	Vendor     string          `json:"vendor"`
	Type       string          `json:"type"`
	OccurredAt time.Time       `json:"occurred_at"`
	ReceivedAt time.Time       `json:"received_at"`
	RecordKind string          `json:"record_kind,omitempty"`
	RecordID   string          `json:"record_id,omitempty"`
	Payload    json.RawMessage `json:"payload,omitempty"`
}

// Query selects events: newer than After, of Vendor (if set) and one of
// Types (if any), at most Limit of them.
type Query struct {
	Vendor string
	Types  []string
	After  string
	Limit  int
}

// Log keeps events. Implementations are safe for concurrent use.
type Log interface {
	// Append stores e (its ID is assigned, ReceivedAt set when zero,
	// OccurredAt set to ReceivedAt when zero) unless an event with the same
	// non-empty dedupeKey is kept or e occurred more than MaxAge ago: then
	// it returns false and no error. A nil error with true means stored.
	// When ctx ends first the event may or may not be stored: the caller
	// must not acknowledge it, and a retry with the same key is safe.
	Append(ctx context.Context, e Event, dedupeKey string) (stored bool, err error)
	// List returns events matching q, oldest first, and the cursor to
	// continue from (see the package doc).
	List(ctx context.Context, q Query) (events []Event, next string, err error)
	// Notify signals stored events (see the package doc).
	Notify() (ch <-chan struct{}, cancel func())
	// Close releases the log; later calls fail with ErrClosed.
	Close() error
}

// Defaults and bounds.
const (
	DefaultMax    = 100000
	DefaultMaxAge = 168 * time.Hour
	DefaultLimit  = 100
	MaxLimit      = 1000
	// MaxScan is how many events one List looks at, at most.
	MaxScan = 10000
	// MaxPayload is the largest Payload Append accepts, in bytes.
	MaxPayload = 64 << 10
)

// Errors.
var (
	ErrBadCursor = errors.New("events: not a cursor of this log; pass an event id or the next cursor a list returned")
	ErrClosed    = errors.New("events: the log is closed")
)

// Options bound a log.
type Options struct {
	// Max is the most events kept (0: DefaultMax).
	Max int
	// MaxAge is how long an event is kept (0: DefaultMaxAge).
	MaxAge time.Duration
	// Namespace prefixes the Redis keys (""; "crm-mcp:events"). Replicas
	// that share events use the same one.
	Namespace string
	// Now is the clock of the memory and disk logs (nil: time.Now); Redis
	// ignores it (its ids come from Redis's clock).
	Now func() time.Time
}

func (o Options) withDefaults() Options {
	if o.Max <= 0 {
		o.Max = DefaultMax
	}
	if o.MaxAge <= 0 {
		o.MaxAge = DefaultMaxAge
	}
	if o.Namespace == "" {
		o.Namespace = "crm-mcp:events"
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return o
}

// Key is the dedupe key of a vendor event with its own id.
func Key(vendor, id string) string { return vendor + ":id:" + id }

// BodyKey is the dedupe key of a vendor event without an id: its body's digest.
func BodyKey(vendor string, body []byte) string {
	sum := sha256.Sum256(body)
	return vendor + ":sha256:" + hex.EncodeToString(sum[:])
}

// normKey bounds a dedupe key: a long one is replaced by its digest.
func normKey(k string) string {
	if len(k) <= 128 {
		return k
	}
	sum := sha256.Sum256([]byte(k))
	return "sha256:" + hex.EncodeToString(sum[:])
}

// id is an event id: the append time in ms and a sequence within that ms.
type id struct{ ms, seq uint64 }

func (i id) String() string {
	return strconv.FormatUint(i.ms, 10) + "-" + strconv.FormatUint(i.seq, 10)
}

func (i id) less(j id) bool { return i.ms < j.ms || i.ms == j.ms && i.seq < j.seq }

// after is the next id for an append at ms, following last.
func (i id) after(ms uint64) id {
	if ms <= i.ms {
		return id{i.ms, i.seq + 1}
	}
	return id{ms, 0}
}

// parseID reads "<ms>-<seq>" (or "<ms>", seq 0, as Redis does).
func parseID(s string) (id, error) {
	a, b, hasSeq := strings.Cut(s, "-")
	ms, err := strconv.ParseUint(a, 10, 64)
	if err != nil || len(s) > 41 {
		return id{}, ErrBadCursor
	}
	var seq uint64
	if hasSeq {
		if seq, err = strconv.ParseUint(b, 10, 64); err != nil {
			return id{}, ErrBadCursor
		}
	}
	return id{ms, seq}, nil
}

// cursor reads q.After: the zero id when empty.
func cursor(after string) (id, error) {
	if after == "" {
		return id{}, nil
	}
	return parseID(after)
}

func unixMs(t time.Time) uint64 {
	if ms := t.UnixMilli(); ms > 0 {
		return uint64(ms)
	}
	return 0
}

// limit is q.Limit within bounds.
func (q Query) limit() int {
	switch {
	case q.Limit <= 0:
		return DefaultLimit
	case q.Limit > MaxLimit:
		return MaxLimit
	}
	return q.Limit
}

func (q Query) match(vendor, typ string) bool {
	return (q.Vendor == "" || q.Vendor == vendor) && (len(q.Types) == 0 || slices.Contains(q.Types, typ))
}

// prepare checks and completes e for storing at now; false: too old to keep.
func prepare(e *Event, now time.Time, maxAge time.Duration) (bool, error) {
	if e.Vendor == "" || e.Type == "" {
		return false, errors.New("events: an event needs a vendor and a type")
	}
	if len(e.Payload) > MaxPayload {
		return false, fmt.Errorf("events: payload of %d bytes; at most %d (see Trim)", len(e.Payload), MaxPayload)
	}
	if len(e.Payload) > 0 && !json.Valid(e.Payload) {
		return false, errors.New("events: payload is not JSON")
	}
	e.ID = ""
	if e.ReceivedAt.IsZero() {
		e.ReceivedAt = now
	}
	e.ReceivedAt = e.ReceivedAt.UTC()
	if e.OccurredAt.IsZero() {
		e.OccurredAt = e.ReceivedAt
	}
	e.OccurredAt = e.OccurredAt.UTC()
	return !e.OccurredAt.Before(now.Add(-maxAge)), nil
}

// record is an event as stored (the id is the key).
type record struct {
	Vendor     string          `json:"v"`
	Type       string          `json:"t"`
	OccurredAt time.Time       `json:"o"`
	ReceivedAt time.Time       `json:"r"`
	RecordKind string          `json:"k,omitempty"`
	RecordID   string          `json:"i,omitempty"`
	Payload    json.RawMessage `json:"p,omitempty"`
	Key        string          `json:"d,omitempty"` // dedupe key (memory, disk)
}

func toRecord(e Event, key string) record {
	return record{e.Vendor, e.Type, e.OccurredAt, e.ReceivedAt, e.RecordKind, e.RecordID, e.Payload, key}
}

func (r record) event(i id) Event {
	return Event{ID: i.String(), Vendor: r.Vendor, Type: r.Type, OccurredAt: r.OccurredAt, ReceivedAt: r.ReceivedAt,
		RecordKind: r.RecordKind, RecordID: r.RecordID, Payload: r.Payload}
}

// notifier fans "something was stored" out to subscribers.
type notifier struct {
	mu     sync.Mutex
	subs   map[chan struct{}]struct{}
	closed bool
}

func (n *notifier) subscribe() (<-chan struct{}, func()) {
	ch := make(chan struct{}, 1)
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.closed {
		close(ch)
		return ch, func() {}
	}
	if n.subs == nil {
		n.subs = map[chan struct{}]struct{}{}
	}
	n.subs[ch] = struct{}{}
	return ch, func() {
		n.mu.Lock()
		defer n.mu.Unlock()
		if _, ok := n.subs[ch]; ok {
			delete(n.subs, ch)
			close(ch)
		}
	}
}

func (n *notifier) broadcast() {
	n.mu.Lock()
	defer n.mu.Unlock()
	for ch := range n.subs {
		select {
		case ch <- struct{}{}:
		default:
		}
	}
}

func (n *notifier) close() {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.closed = true
	for ch := range n.subs {
		close(ch)
	}
	n.subs = nil
}
