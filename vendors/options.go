package vendors

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"reflect"
	"sync"
	"time"

	"github.com/crm-mcp/crm-mcp/vendors/ratelimit"
)

// Options are what every vendor client shares: transport, limiter backend,
// retry policy, logger and metrics hook. The zero value works.
type Options struct {
	HTTP    *http.Client
	Limiter ratelimit.Limiter
	Retry   Retry
	Logger  *slog.Logger
	Observe func(vendor string, status int, d time.Duration)
	// Gates bounds concurrent calls per vendor across all its clients
	// (nil: each client gets its own bound of DefaultMaxInflight).
	Gates *Gates
	// MaxBody caps one response body after decompression (0: DefaultMaxBody).
	MaxBody int64
	// Unlimited drops the documented windows (sandbox load tests only).
	Unlimited bool
}

// NewClient builds a Client for vendor with the given credential parts.
// The credential is not registered anywhere: whoever configured it (the app,
// from its environment) decides who masks it.
func (o Options) NewClient(vendor, baseURL string, header http.Header, windows []ratelimit.Window, credential ...string) *Client {
	h := o.HTTP
	if h == nil {
		h = defaultHTTP
	}
	if o.Unlimited {
		windows = nil
	}
	gate := o.Gates.For(vendor)
	if gate == nil {
		gate = NewGate(0)
	}
	return &Client{
		Vendor:   vendor,
		BaseURL:  trimSlash(baseURL),
		Header:   header,
		HTTP:     h,
		Limiter:  o.Limiter,
		LimitKey: ratelimit.Key(vendor, credential...),
		Identity: Identity(vendor, credential...),
		Windows:  windows,
		Retry:    o.Retry,
		Logger:   o.Logger,
		Observe:  o.Observe,
		MaxBody:  o.MaxBody,
		Inflight: gate,
	}
}

// Identity is a one-way digest of a vendor and a credential, long enough
// that two credentials never share one: it scopes the duplicate-send guard,
// whose records may live in a Redis shared by several deployments.
func Identity(vendor string, credential ...string) string {
	h := sha256.New()
	h.Write([]byte("crm-mcp identity v1\x00" + vendor))
	for _, c := range credential {
		h.Write([]byte{0})
		h.Write([]byte(c))
	}
	return hex.EncodeToString(h.Sum(nil))
}

// Gates hands out one Gate per vendor, so every client of a vendor (the
// configured one and each tenant's) shares one bound.
type Gates struct {
	mu sync.Mutex
	n  int
	m  map[string]*Gate
}

// NewGates bounds each vendor to n concurrent calls (n <= 0: DefaultMaxInflight).
func NewGates(n int) *Gates { return &Gates{n: n, m: map[string]*Gate{}} }

// For is vendor's gate (nil for a nil Gates).
func (g *Gates) For(vendor string) *Gate {
	if g == nil {
		return nil
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.m[vendor] == nil {
		g.m[vendor] = NewGate(g.n)
	}
	return g.m[vendor]
}

var defaultHTTP = NewHTTPClient()

func trimSlash(s string) string {
	for len(s) > 0 && s[len(s)-1] == '/' {
		s = s[:len(s)-1]
	}
	return s
}

// Fetch sends req and decodes a {"data": v} or bare v answer: the
// single-object response of most vendors.
func Fetch[T any](ctx context.Context, c *Client, req Request) (*T, error) {
	var out Unwrap[T]
	if err := c.Do(ctx, req, &out); err != nil {
		return nil, err
	}
	return &out.V, nil
}

// Unwrap decodes either {"data": v} or a bare v: vendors that are silent on
// their single-object responses may use either. A "data" that does not
// decode into T is an error (never a zero T reported as success), and so is
// an object with none of the record's fields: no vendor answers a record
// that way.
type Unwrap[T any] struct{ V T }

// UnmarshalJSON implements json.Unmarshaler. The common {"data": v} shape
// is decoded in one pass.
func (u *Unwrap[T]) UnmarshalJSON(b []byte) error {
	if isObject(b) {
		var env struct {
			Data *T `json:"data"`
		}
		if err := json.Unmarshal(b, &env); err != nil {
			return err
		}
		if env.Data != nil {
			u.V = *env.Data
			return u.check()
		}
	}
	if err := json.Unmarshal(b, &u.V); err != nil {
		return err
	}
	return u.check()
}

// check refuses a record with none of T's fields: {}, {"data": null}, or
// an envelope of something else altogether.
func (u *Unwrap[T]) check() error {
	if reflect.ValueOf(&u.V).Elem().IsZero() {
		return errEmptyRecord
	}
	return nil
}

func isObject(b []byte) bool {
	b = bytes.TrimSpace(b)
	return len(b) > 0 && b[0] == '{'
}

var errEmptyRecord = errors.New("the answer holds no record")
