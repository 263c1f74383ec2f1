// Package emulator holds what every vendor emulator (vendors/<name>/<name>test)
// shares: injected faults and latency, per-route hit counts, the front door
// (credentials, then the vendor's own rate limits enforced as an exact
// sliding log), body decoding, and JSON helpers. Each emulator describes its
// vendor to the kit (a Vendor: route names, error envelopes, credentials,
// limits) and adds its routes and seed data.
package emulator

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/http/httptrace"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/crm-mcp/crm-mcp/vendors"
)

// Fault is one injected failure, consumed by the next matching request.
//
// Besides the plain faults (Status, Drop, Malformed, Delay) a Fault can play
// a hostile vendor, for tests of what a client must never do: follow a
// redirect, inflate a body without a cap, wait without a bound, trust a
// header, or repeat a secret. For example:
//
//	Fault{Redirect: rec.URL + "/contacts", Status: 307}              // 307 to a Recorder
//	Fault{GzipBomb: 1 << 30, BombPrefix: `{"data":[`, BombFill: ' '} // 1 GiB inflated, ~1.3 MB sent
//	Fault{Trickle: 50 * time.Millisecond}                            // the real answer, a byte at a time
//	Fault{Status: 429, RetryAfterRaw: "999999999"}                   // "come back in 31 years"
//	Fault{EchoCredentials: true, Status: 400,
//		Body: `{"error":"bad_request","message":"` + Echo + `"}`}  // our key in the error message
//	Fault{Status: 200, Body: `{"data":{"id":123,"name":["x"]}}`}     // a 200 with the wrong types
type Fault struct {
	Method string // match only this method ("" any)
	Path   string // match only paths with this prefix ("" any)

	Delay      time.Duration // sleep before answering
	Status     int           // answer this status instead of handling (0: handle)
	RetryAfter int           // seconds, sent with Status
	Body       string        // body sent with Status (default: the vendor's envelope)
	Drop       bool          // close the connection without an answer
	Malformed  bool          // answer 200 with a body that is not JSON
	// AfterHandling applies the fault after the request was really
	// processed: the vendor acted, then failed to say so.
	AfterHandling bool

	// Redirect answers Status (default 302; 301, 303, 307, 308 are the
	// others worth testing) with this Location, verbatim: typically a
	// Recorder on another port, to prove no key or body follows.
	Redirect string
	// GzipBomb answers Status (default 200) with Content-Encoding: gzip
	// and a body that inflates to this many bytes, whatever the request's
	// Accept-Encoding. It is compressed as it is sent (BestSpeed, ~800:1):
	// the emulator never holds more than a few hundred KiB of it.
	GzipBomb   int64
	BombPrefix string // the bomb's first inflated bytes (e.g. `{"data":[`), counted in GzipBomb
	BombFill   byte   // the byte after BombPrefix (0: zeros; ' ' keeps `{"data":[` unfinished JSON)
	// Trickle sends the answer's body (the real one, or the fault's) one
	// byte at a time, this long apart: a vendor that never quite stops.
	Trickle time.Duration
	// RetryAfterRaw is sent verbatim as Retry-After with Status (default
	// 429) in place of RetryAfter: "999999999", "-5", "soon", a date in 2999.
	RetryAfterRaw string
	// EchoCredentials answers Status (default 200) repeating every request
	// header back: each as an X-Echo-<Name> response header, and in the
	// body (Body with Echo replaced, or a JSON envelope carrying them in
	// "error", "message" and "headers"). A vendor leaking our key at us.
	EchoCredentials bool
}

// Kit is embedded by each emulator: faults, hits, limits and latency, and,
// once Handle has given it the vendor's routes, the emulator's ServeHTTP.
type Kit struct {
	mu      sync.Mutex
	faults  []Fault
	hits    map[string]int
	latency time.Duration
	limited int // requests refused by the vendor's own limits
	logs    map[string]*slidingLog
	now     func() time.Time

	vendor  Vendor       // set once by Handle, before serving
	handler http.Handler // likewise
}

// NewKit returns an empty Kit.
func NewKit() *Kit {
	return &Kit{hits: map[string]int{}, logs: map[string]*slidingLog{}, now: time.Now}
}

// Inject queues faults; each is used once, in order, by a matching request.
func (k *Kit) Inject(fs ...Fault) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.faults = append(k.faults, fs...)
}

// SetLatency adds d to every answer (a vendor round trip).
func (k *Kit) SetLatency(d time.Duration) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.latency = d
}

// Hits is how many requests reached "METHOD /path" (the path as routed,
// e.g. "POST /deals"), counted before any fault or limit.
func (k *Kit) Hits(route string) int {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.hits[route]
}

// TotalHits is how many requests reached the emulator.
func (k *Kit) TotalHits() int {
	k.mu.Lock()
	defer k.mu.Unlock()
	n := 0
	for _, v := range k.hits {
		n += v
	}
	return n
}

// Throttled is how many requests the emulator refused with 429 because the
// caller broke the vendor's documented limits (injected 429s not counted).
func (k *Kit) Throttled() int {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.limited
}

// Limited reports whether one more request for key breaks any window
// (and records it when it does not). windows: limit -> period.
func (k *Kit) Limited(key string, windows map[time.Duration]int) (bool, int) {
	k.mu.Lock()
	defer k.mu.Unlock()
	now := k.now()
	for period, limit := range windows {
		lg := k.log(key, period)
		if lg.count(now, period) >= limit {
			k.limited++
			return true, int(lg.retryAfter(now, period, limit).Seconds()) + 1
		}
	}
	for period := range windows {
		k.log(key, period).add(now)
	}
	return false, 0
}

func (k *Kit) log(key string, period time.Duration) *slidingLog {
	id := key + "/" + period.String()
	lg := k.logs[id]
	if lg == nil {
		lg = &slidingLog{}
		k.logs[id] = lg
	}
	return lg
}

// Route names a request for Hits with its id segment generalised:
// "GET /contacts/cnt_1" -> "GET /contacts/{id}",
// "POST /whatsapp_templates/7/send_message" -> "POST /whatsapp_templates/{id}/send_message".
func Route(r *http.Request) string {
	parts := strings.Split(strings.Trim(r.URL.Path, "/"), "/")
	if len(parts) >= 2 {
		parts[1] = "{id}"
	}
	return r.Method + " /" + strings.Join(parts, "/")
}

// Serve wraps a vendor's handler with latency, hit counting and faults.
// route maps a request to its route name for Hits; errBody renders the
// vendor's error envelope for an injected status.
func (k *Kit) Serve(route func(*http.Request) string, errBody func(status int) string, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		k.mu.Lock()
		k.hits[route(r)]++
		latency := k.latency
		f, ok := k.takeFault(r)
		k.mu.Unlock()
		if latency > 0 {
			sleep(r, latency)
		}
		if !ok {
			next.ServeHTTP(w, r)
			return
		}
		answer(w, r, f, errBody, next)
	})
}

func (k *Kit) takeFault(r *http.Request) (Fault, bool) {
	for i, f := range k.faults {
		if (f.Method == "" || f.Method == r.Method) && strings.HasPrefix(r.URL.Path, f.Path) {
			k.faults = append(k.faults[:i], k.faults[i+1:]...)
			return f, true
		}
	}
	return Fault{}, false
}

func sleep(r *http.Request, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-r.Context().Done():
	}
}

// drop closes the connection with no answer (a reset, as far as the client knows).
func drop(w http.ResponseWriter) {
	if hj, ok := w.(http.Hijacker); ok {
		if conn, _, err := hj.Hijack(); err == nil {
			_ = conn.Close()
			return
		}
	}
	panic(http.ErrAbortHandler)
}

type discard struct{ h http.Header }

func (d discard) Header() http.Header         { return d.h }
func (d discard) Write(b []byte) (int, error) { return len(b), nil }
func (d discard) WriteHeader(int)             {}

// slidingLog is an exact log of request times for one window.
type slidingLog struct{ times []time.Time }

func (l *slidingLog) prune(now time.Time, period time.Duration) {
	i := 0
	for i < len(l.times) && !l.times[i].After(now.Add(-period)) {
		i++
	}
	l.times = l.times[i:]
}

func (l *slidingLog) count(now time.Time, period time.Duration) int {
	l.prune(now, period)
	return len(l.times)
}

func (l *slidingLog) add(now time.Time) { l.times = append(l.times, now) }

func (l *slidingLog) retryAfter(now time.Time, period time.Duration, limit int) time.Duration {
	n := len(l.times)
	if n < limit {
		return 0
	}
	return l.times[n-limit].Add(period).Sub(now)
}

// JSON writes v with status.
func JSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// Bearer returns the token of an "Authorization: Bearer <token>" header.
func Bearer(r *http.Request) string {
	v, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok {
		return ""
	}
	return strings.TrimSpace(v)
}

// IntParam reads an integer query parameter: def when absent, ok=false when
// present but not an integer in [lo, hi].
func IntParam(r *http.Request, name string, def, lo, hi int) (int, bool) {
	v := r.URL.Query().Get(name)
	if v == "" {
		return def, true
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < lo || n > hi {
		return 0, false
	}
	return n, true
}

// Page returns items[offset : offset+limit], clamped.
func Page[T any](items []T, offset, limit int) []T {
	if offset >= len(items) {
		return []T{}
	}
	return items[offset:min(offset+limit, len(items))]
}

// IDs hands out sequential ids with a vendor prefix ("cnt_", "dl_").
type IDs struct {
	mu   sync.Mutex
	next int
}

// Next returns prefix + the next number.
func (g *IDs) Next(prefix string, start int) string {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.next < start {
		g.next = start
	}
	g.next++
	return prefix + strconv.Itoa(g.next)
}

// Transport serves requests straight from h, in memory: --sandbox uses it
// so the emulators need no ports and add no network hop.
func Transport(h http.Handler) http.RoundTripper { return transport{h} }

type transport struct{ h http.Handler }

func (t transport) RoundTrip(r *http.Request) (*http.Response, error) {
	if tr := httptrace.ContextClientTrace(r.Context()); tr != nil && tr.GotConn != nil {
		tr.GotConn(httptrace.GotConnInfo{}) // the request reaches the vendor: as good as a connection
	}
	rec := httptest.NewRecorder()
	t.h.ServeHTTP(rec, r)
	if err := r.Context().Err(); err != nil {
		return nil, err
	}
	resp := rec.Result()
	resp.Request = r
	return resp, nil
}

// VendorError fails the test unless err is a *vendors.Error, and returns it:
// every vendor client's tests assert on what the agent will be told.
// (t is a *testing.T; the interface keeps "testing" out of the binary,
// which links this package for --sandbox.)
func VendorError(t interface {
	Helper()
	Fatalf(string, ...any)
}, err error) *vendors.Error {
	t.Helper()
	e, ok := vendors.AsError(err)
	if !ok {
		t.Fatalf("error %v (%T) is not a *vendors.Error", err, err)
	}
	return e
}
