package vendors

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"strings"
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
	// Unlimited drops the documented windows (sandbox load tests only).
	Unlimited bool
}

// NewClient builds a Client for vendor with the given credential key parts.
func (o Options) NewClient(vendor, baseURL string, header http.Header, windows []ratelimit.Window, credential ...string) *Client {
	h := o.HTTP
	if h == nil {
		h = defaultHTTP
	}
	if o.Unlimited {
		windows = nil
	}
	for _, c := range credential {
		RegisterSecret(c)
	}
	for _, vs := range header {
		for _, v := range vs {
			RegisterSecret(strings.TrimPrefix(v, "Bearer "))
		}
	}
	return &Client{
		Vendor:   vendor,
		BaseURL:  trimSlash(baseURL),
		Header:   header,
		HTTP:     h,
		Limiter:  o.Limiter,
		LimitKey: ratelimit.Key(vendor, credential...),
		Windows:  windows,
		Retry:    o.Retry,
		Logger:   o.Logger,
		Observe:  o.Observe,
	}
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
// their single-object responses may use either.
type Unwrap[T any] struct{ V T }

// UnmarshalJSON implements json.Unmarshaler.
func (u *Unwrap[T]) UnmarshalJSON(b []byte) error {
	var env struct {
		Data *T `json:"data"`
	}
	if err := json.Unmarshal(b, &env); err == nil && env.Data != nil {
		u.V = *env.Data
		return nil
	}
	return json.Unmarshal(b, &u.V)
}
