package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"github.com/crm-mcp/crm-mcp/vendors"
	"github.com/crm-mcp/crm-mcp/vendors/events"
	"github.com/crm-mcp/crm-mcp/vendors/qyvo"
	"github.com/crm-mcp/crm-mcp/vendors/vivre"
	"github.com/crm-mcp/crm-mcp/vendors/vixiees"
)

// Vendor events reach agents through one log (vendors/events): the webhook
// receivers below store what Vivre and Vixiees send, and a background
// poller stores what Qyvo's trigger feeds show. The log is
//
//   - Redis (a stream every replica shares) when REDIS_URL is set,
//   - a bbolt file under CRM_MCP_DATA_DIR when serving HTTP outside
//     --sandbox with something that produces events (a webhook secret, or
//     Qyvo's token): what a vendor was told we have survives a restart,
//   - in memory otherwise (--sandbox, stdio: several stdio servers of one
//     user would fight over one file),
//
// or what CRM_MCP_EVENTS_STORE says.
//
// The receivers sit on the HTTP listener behind the Host and Origin checks
// but not the bearer token (hosted.go): vendors cannot send one. Each
// authenticates its vendor itself (Vivre: an HMAC of the body; Vixiees: a
// secret path token), caps the body at webhookMaxBytes, stores the event and
// only then answers 200, within webhookStoreTimeout (Vivre wants its 200
// within 5 s). A receiver is mounted only when its secret is set.

const (
	// webhookMaxBytes caps a webhook body (413 beyond).
	webhookMaxBytes = 256 << 10
	// webhookStoreTimeout bounds storing one event: past it the receiver
	// answers 503 and the vendor sends the event again.
	webhookStoreTimeout = 4 * time.Second
)

// minPollEvery is the shortest time between two Qyvo feed reads, whatever
// the budget allows (a variable for tests).
var minPollEvery = time.Second

// qyvoFeeds are the trigger feeds polled, in this order.
var qyvoFeeds = []string{"message_received", "campaign_sent", "flow_triggered", "sequence_triggered"}

// vendorEvents is the app's part for vendor events.
type vendorEvents struct {
	log        events.Log
	store      string // memory, disk or redis
	where      string // the directory (disk) or "" otherwise
	poller     *events.Poller
	pollEvery  time.Duration
	stopPoller func()
	received   *prometheus.CounterVec
	polled     *prometheus.CounterVec
}

// Log is the event log the agent side reads (a tool, resources, subscriptions).
func (v *vendorEvents) Log() events.Log { return v.log }

// eventStore is the store CRM_MCP_EVENTS_STORE asks for, auto resolved.
func (a *app) eventStore(qyvoOn bool) string {
	switch s := strings.ToLower(a.cfg.EventsStore); {
	case s != "" && s != "auto":
		return s
	case a.cfg.RedisURL != "":
		return "redis"
	case a.cfg.Transport == "http" && !a.cfg.Sandbox && (a.cfg.VivreWebhookSecret != "" || a.cfg.VixieesWebhookToken != "" || qyvoOn):
		return "disk"
	}
	return "memory"
}

// dataDir is CRM_MCP_DATA_DIR, or crm-mcp's folder in the user's cache directory.
func (c *Config) dataDir() (string, error) {
	if c.DataDir != "" {
		return c.DataDir, nil
	}
	base, err := os.UserCacheDir()
	if err != nil {
		return "", fmt.Errorf("CRM_MCP_DATA_DIR is not set and there is no user cache directory (%w): set it to a folder that lasts", err)
	}
	return filepath.Join(base, "crm-mcp"), nil
}

// buildEvents opens the event log and starts the Qyvo poller when there is
// a Qyvo client on the deployment's own token (qc: the tools' own, so the
// poller shares their limiter); a.close stops the poller and closes the log.
func (a *app) buildEvents(ctx context.Context, rdb *redis.Client, qc *qyvo.Client) error {
	a.redactor.Add(a.cfg.VivreWebhookSecret)
	a.redactor.Add(a.cfg.VixieesWebhookToken)
	v := &vendorEvents{store: a.eventStore(qc != nil), stopPoller: func() {}}
	o := events.Options{Max: a.cfg.EventsMax, MaxAge: a.cfg.EventsMaxAge}
	switch v.store {
	case "redis":
		v.log = events.NewRedis(rdb, o)
	case "disk":
		dir, err := a.cfg.dataDir()
		if err != nil {
			return err
		}
		d, err := events.OpenDisk(dir, o)
		if err != nil {
			return fmt.Errorf("CRM_MCP_DATA_DIR: %w", err)
		}
		v.log, v.where = d, d.Path()
	default:
		v.log = events.NewMemory(o)
	}
	v.received = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "crm_mcp_webhooks_total",
		Help: "Webhook deliveries by vendor and outcome (stored, not_stored: a duplicate or too old, unauthorized, too_large, bad_request, error)."},
		[]string{"vendor", "outcome"})
	v.polled = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "crm_mcp_events_polled_total",
		Help: "Events stored from polled vendor feeds, and failed reads (outcome error), by feed."}, []string{"feed", "outcome"})
	a.metrics.reg.MustRegister(v.received, v.polled)
	a.events = v
	if qc != nil && a.cfg.QyvoPollShare > 0 {
		a.startQyvoPoller(ctx, v, qc, rdb)
	}
	prev := a.close
	a.close = func() {
		v.stopPoller()
		_ = v.log.Close()
		prev()
	}
	var receivers []string
	if a.cfg.Transport == "http" && a.cfg.VivreWebhookSecret != "" {
		receivers = append(receivers, "POST /webhooks/vivre")
	}
	if a.cfg.Transport == "http" && a.cfg.VixieesWebhookToken != "" {
		receivers = append(receivers, "POST /webhooks/vixiees/<token>")
	}
	attrs := []any{"store", v.store, "max", a.cfg.EventsMax, "max_age", a.cfg.EventsMaxAge}
	if v.where != "" {
		attrs = append(attrs, "path", v.where)
	}
	if len(receivers) > 0 {
		attrs = append(attrs, "receivers", receivers)
	}
	if v.poller != nil {
		attrs = append(attrs, "qyvo_poll_every", v.pollEvery, "qyvo_poll_lock", rdb != nil)
	}
	a.log.Info("vendor events", attrs...)
	return nil
}

// pollEvery is the time between two feed reads that keeps the poller within
// share of perMinute requests (each read is one request): a feed is read
// every len(qyvoFeeds) times that.
func pollEvery(perMinute int, share float64) time.Duration {
	every := time.Duration(float64(time.Minute) / (float64(max(perMinute, 1)) * share))
	return max(every, minPollEvery)
}

// startQyvoPoller polls Qyvo's feeds until the build context ends or the
// app closes; with Redis, only the replica holding the lock polls.
func (a *app) startQyvoPoller(ctx context.Context, v *vendorEvents, c *qyvo.Client, rdb *redis.Client) {
	feeds := make([]events.Feed, 0, len(qyvoFeeds))
	for _, f := range qyvoFeeds {
		feeds = append(feeds, qyvoFeed(c, f))
	}
	v.pollEvery = pollEvery(c.PerMinute(), a.cfg.QyvoPollShare)
	po := events.PollerOptions{Log: v.log, Feeds: feeds, Every: v.pollEvery, Logger: a.log,
		Observe: func(feed string, stored int, err error) {
			if err != nil {
				v.polled.WithLabelValues(feed, "error").Inc()
				return
			}
			v.polled.WithLabelValues(feed, "stored").Add(float64(stored))
		}}
	if rdb != nil {
		po.Lock = events.NewRedisLock(rdb, "crm-mcp:events:poller:qyvo:"+c.Identity())
	}
	v.poller = events.NewPoller(po)
	pctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		v.poller.Run(pctx)
	}()
	var once sync.Once
	v.stopPoller = func() {
		once.Do(func() {
			cancel()
			<-done
		})
	}
}

// qyvoFeed reads one trigger feed as events, oldest first. Each record is
// about a contact (its kind and id); the rest of it is the payload.
func qyvoFeed(c *qyvo.Client, feed string) events.Feed {
	return events.Feed{Name: "qyvo/" + feed, Fetch: func(ctx context.Context) ([]events.Entry, error) {
		page, err := c.Recent(ctx, feed, vendors.PageRequest{})
		if err != nil {
			return nil, err
		}
		out := make([]events.Entry, 0, len(page.Items))
		for i := len(page.Items) - 1; i >= 0; i-- {
			out = append(out, qyvoEntry(feed, page.Items[i]))
		}
		return out, nil
	}}
}

func qyvoEntry(feed string, r qyvo.Event) events.Entry {
	fields := map[string]string{"contact_id": r.ContactID, "phone": r.Phone, "text": r.Text, "message_id": r.MessageID,
		"campaign": r.Campaign, "sequence_id": r.SequenceID, "flow_id": r.FlowID, "name": r.Name}
	for k, val := range fields {
		if val == "" {
			delete(fields, k)
		}
	}
	raw, _ := json.Marshal(fields)
	e := events.Event{Vendor: qyvo.Name, Type: feed, OccurredAt: r.CreatedAt, Payload: events.Trim(raw)}
	if r.ContactID != "" {
		e.RecordKind, e.RecordID = "contact", r.ContactID
	}
	key := events.Key(qyvo.Name, feed+":"+r.ID)
	if r.ID == "" {
		all, _ := json.Marshal(r)
		key = events.BodyKey(qyvo.Name, all)
	}
	return events.Entry{Event: e, Key: key}
}

// mountWebhooks adds the receivers whose secret is set.
func (a *app) mountWebhooks(mux *http.ServeMux) {
	if a.events == nil {
		return
	}
	if secret := a.cfg.VivreWebhookSecret; secret != "" {
		mux.Handle("POST /webhooks/vivre", a.receiver(vivre.Name, vivreShape,
			func(r *http.Request, body []byte) bool {
				return vivre.VerifyWebhook(secret, body, r.Header.Get("X-Vivre-Signature"))
			}, nil))
	}
	if token := a.cfg.VixieesWebhookToken; token != "" {
		mux.Handle("POST /webhooks/vixiees/{token}", a.receiver(vixiees.Name, vixieesShape, nil,
			func(r *http.Request) bool { return vixiees.VerifyWebhookToken(token, r.PathValue("token")) }))
	}
}

// receiver is one vendor's webhook endpoint: pre authenticates before the
// body is read, verify after (either may be nil).
func (a *app) receiver(vendor string, shape bodyShape, verify func(*http.Request, []byte) bool, pre func(*http.Request) bool) http.Handler {
	count := func(outcome string) { a.events.received.WithLabelValues(vendor, outcome).Inc() }
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if pre != nil && !pre(r) {
			count("unauthorized")
			http.Error(w, "unauthorized", http.StatusUnauthorized)
			return
		}
		if r.ContentLength > webhookMaxBytes {
			count("too_large")
			http.Error(w, "body too large: at most "+strconv.Itoa(webhookMaxBytes)+" bytes", http.StatusRequestEntityTooLarge)
			return
		}
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, webhookMaxBytes))
		if mb := (*http.MaxBytesError)(nil); errors.As(err, &mb) {
			count("too_large")
			http.Error(w, "body too large: at most "+strconv.Itoa(webhookMaxBytes)+" bytes", http.StatusRequestEntityTooLarge)
			return
		}
		if err != nil {
			count("bad_request")
			http.Error(w, "cannot read the body", http.StatusBadRequest)
			return
		}
		if verify != nil && !verify(r, body) {
			count("unauthorized")
			http.Error(w, "unauthorized", http.StatusUnauthorized)
			return
		}
		e, key, err := shape.parse(body)
		if err != nil {
			count("bad_request")
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		ctx, cancel := context.WithTimeout(r.Context(), webhookStoreTimeout)
		stored, err := a.events.log.Append(ctx, e, key)
		cancel()
		if err != nil {
			count("error")
			a.log.Warn("webhook: cannot store the event; answering 503 so that the vendor sends it again", "vendor", vendor,
				"type", e.Type, "error", a.redactor.Redact(err.Error()))
			w.Header().Set("Retry-After", "5")
			http.Error(w, "cannot store the event now; send it again", http.StatusServiceUnavailable)
			return
		}
		if stored {
			count("stored")
		} else {
			count("not_stored")
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = fmt.Fprintf(w, `{"ok":true,"stored":%t}`+"\n", stored)
	})
}

// bodyShape reads one vendor's webhook body (the assumed shapes are in the
// vendor packages' docs): the event id, name and time under one of a few
// names, and the record under "data".
type bodyShape struct {
	vendor   string
	timeKeys []string
	kind     func(eventName string) string
}

var (
	vivreShape = bodyShape{vendor: vivre.Name, timeKeys: []string{"created_at", "occurred_at", "timestamp"},
		kind: func(name string) string {
			if k, _, ok := strings.Cut(name, "."); ok {
				return k
			}
			return ""
		}}
	vixieesShape = bodyShape{vendor: vixiees.Name, timeKeys: []string{"timestamp", "created_at", "occurred_at"},
		kind: func(name string) string {
			if i := strings.LastIndexByte(name, '_'); i > 0 {
				return name[:i]
			}
			return ""
		}}
)

// envelopeKeys are the body's own fields, not the record's.
var envelopeKeys = []string{"id", "event_id", "event", "type", "created_at", "occurred_at", "timestamp", "workspace_id", "data"}

// parse maps a body to an event and its dedupe key: the vendor's event id,
// else the body's digest. Not a JSON object: an error. A body without an
// event name is kept, as type "unknown", with the whole body (less the
// envelope's fields) as payload when it has no "data": the shapes are
// assumed, and an event kept is better than one a vendor retries forever.
func (s bodyShape) parse(body []byte) (events.Event, string, error) {
	var m map[string]json.RawMessage
	dec := json.NewDecoder(bytes.NewReader(body))
	if err := dec.Decode(&m); err != nil || m == nil || dec.More() {
		return events.Event{}, "", errors.New("the body is not a JSON object")
	}
	e := events.Event{Vendor: s.vendor, Type: label(firstString(m, "event", "type"), 100)}
	if e.Type == "" {
		e.Type = "unknown"
	}
	for _, k := range s.timeKeys {
		if t, ok := parseTime(m[k]); ok {
			e.OccurredAt = t
			break
		}
	}
	data := m["data"]
	if len(bytes.TrimSpace(data)) == 0 || bytes.Equal(bytes.TrimSpace(data), []byte("null")) {
		rest := map[string]json.RawMessage{}
		for k, v := range m {
			rest[k] = v
		}
		for _, k := range envelopeKeys {
			delete(rest, k)
		}
		data, _ = json.Marshal(rest)
	}
	e.Payload = events.Trim(data)
	var rec map[string]json.RawMessage
	if json.Unmarshal(data, &rec) == nil {
		kind := s.kind(e.Type)
		if id := label(firstString(rec, "id", kind+"_id"), 200); id != "" && kind != "" {
			e.RecordKind, e.RecordID = kind, id
		}
	}
	key := events.BodyKey(s.vendor, body)
	if id := firstString(m, "id", "event_id"); id != "" {
		key = events.Key(s.vendor, id)
	}
	return e, key, nil
}

// firstString is the first of keys in m holding a string or a number.
func firstString(m map[string]json.RawMessage, keys ...string) string {
	for _, k := range keys {
		var s string
		if json.Unmarshal(m[k], &s) == nil && s != "" {
			return s
		}
		var n json.Number
		if json.Unmarshal(m[k], &n) == nil && n != "" {
			return n.String()
		}
	}
	return ""
}

// label keeps a vendor-given name printable and at most n bytes.
func label(s string, n int) string {
	s = strings.Map(func(r rune) rune {
		if unicode.IsPrint(r) {
			return r
		}
		return -1
	}, strings.TrimSpace(s))
	if len(s) > n {
		s = strings.ToValidUTF8(s[:n], "")
	}
	return s
}

// parseTime reads an RFC 3339 time, one without a zone (UTC), or Unix
// seconds or milliseconds.
func parseTime(raw json.RawMessage) (time.Time, bool) {
	var s string
	if json.Unmarshal(raw, &s) == nil {
		for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05.999999999", "2006-01-02 15:04:05"} {
			if t, err := time.Parse(layout, s); err == nil {
				return t.UTC(), true
			}
		}
		return time.Time{}, false
	}
	var n json.Number
	if json.Unmarshal(raw, &n) != nil {
		return time.Time{}, false
	}
	v, err := n.Int64()
	switch {
	case err != nil || v <= 0:
		return time.Time{}, false
	case v > 1e12:
		return time.UnixMilli(v).UTC(), true
	}
	return time.Unix(v, 0).UTC(), true
}
