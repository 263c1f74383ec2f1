// Package vendors is the REST core every vendor client stands on: request
// building, auth headers, the rate-limit wait, the retry policy and the
// decoding of failures into one *Error type. It knows nothing of MCP.
//
// Retry policy, the part that must never surprise a customer:
//   - a request marked Safe (GET, PUT, DELETE, and read-only POST lookups)
//     is retried on 429, 502, 503, 504, network errors and unreadable
//     bodies, with jittered exponential backoff, only while the call's
//     deadline allows;
//   - any other request (a POST that creates or sends) is re-sent only when
//     the connection failed before a byte reached the vendor (dial errors).
//     Once the vendor may have received it, a failure is reported as
//     KindUncertain and nothing is sent again.
package vendors

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/crm-mcp/crm-mcp/vendors/ratelimit"
)

// maxBody caps how much of a vendor response is read.
const maxBody = 16 << 20

// Client sends requests to one vendor with one credential.
// It is safe for concurrent use once built.
type Client struct {
	Vendor   string
	BaseURL  string      // e.g. https://api.invrsys.com/vivre/v1, no trailing slash
	Header   http.Header // auth and fixed headers sent on every request
	HTTP     *http.Client
	Limiter  ratelimit.Limiter
	LimitKey string             // limiter key: vendor + credential fingerprint
	Windows  []ratelimit.Window // the vendor's documented limits for this credential
	Retry    Retry
	Logger   *slog.Logger
	// DecodeError reads the vendor's error envelope into e (Code, Message,
	// Fields with snake_case argument names). Nil: a generic reader.
	DecodeError func(body []byte, e *Error)
	// Observe, when set, is told of every response (status 0: no response).
	Observe func(vendor string, status int, d time.Duration)
}

// Retry bounds the retry loop of safe requests.
type Retry struct {
	Attempts int           // total attempts for a safe request (default 4)
	Base     time.Duration // first backoff (default 100ms)
	Max      time.Duration // backoff ceiling (default 2s)
	MaxWait  time.Duration // longest limiter wait when ctx has no deadline (default 30s)
}

func (r Retry) withDefaults() Retry {
	if r.Attempts <= 0 {
		r.Attempts = 4
	}
	if r.Base <= 0 {
		r.Base = 100 * time.Millisecond
	}
	if r.Max <= 0 {
		r.Max = 2 * time.Second
	}
	if r.MaxWait <= 0 {
		r.MaxWait = 30 * time.Second
	}
	return r
}

// Request is one vendor operation.
type Request struct {
	Method string
	Path   string // appended to BaseURL; already escaped
	Query  url.Values
	Body   any // JSON-encoded when non-nil
	// Safe marks a request that may be sent again without effect beyond the
	// first (reads, PUT, DELETE, read-only POST lookups). Set by NewRequest
	// from the method; override for POST lookups.
	Safe bool
}

// NewRequest builds a Request whose Safe flag follows HTTP semantics.
func NewRequest(method, path string, query url.Values, body any) Request {
	safe := method == http.MethodGet || method == http.MethodHead || method == http.MethodPut || method == http.MethodDelete
	return Request{Method: method, Path: path, Query: query, Body: body, Safe: safe}
}

// NewHTTPClient is the transport every vendor client shares by default:
// pooled keep-alive connections sized for concurrent agents.
func NewHTTPClient() *http.Client {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxIdleConns = 256
	t.MaxIdleConnsPerHost = 64
	t.IdleConnTimeout = 90 * time.Second
	return &http.Client{Transport: t}
}

// Do sends req, waiting for the limiter and retrying what is safe, and
// decodes a 2xx JSON body into out (when out is non-nil). Every failure is
// an *Error.
func (c *Client) Do(ctx context.Context, req Request, out any) error {
	var body []byte
	if req.Body != nil {
		var err error
		if body, err = json.Marshal(req.Body); err != nil {
			return &Error{Vendor: c.Vendor, Kind: KindInvalid, Message: "cannot encode request: " + err.Error()}
		}
	}
	pol := c.Retry.withDefaults()
	stats := statsFrom(ctx)
	var last *Error
	for attempt := 1; ; attempt++ {
		if err := c.wait(ctx, pol, stats); err != nil {
			return c.finish(err, attempt-1, last)
		}
		stats.attempt()
		status, hdr, respBody, err := c.send(ctx, req, body)
		e := c.outcome(req, status, hdr, respBody, err, out)
		if e == nil {
			return nil
		}
		e.Attempts = attempt
		last = e
		if status == http.StatusTooManyRequests && c.Limiter != nil {
			pause := e.RetryAfter
			if pause <= 0 {
				pause = time.Second
			}
			_ = c.Limiter.Pause(ctx, c.LimitKey, pause)
		}
		retry := e.Kind == KindRateLimited || e.Kind == KindUnavailable || e.Kind == KindProtocol
		if !req.Safe {
			retry = isDialError(err)
		}
		if !retry || attempt >= pol.Attempts {
			return e
		}
		delay := backoff(pol, attempt, e.RetryAfter)
		if dl, ok := ctx.Deadline(); ok && time.Until(dl) < delay {
			return e
		}
		select {
		case <-time.After(delay):
		case <-ctx.Done():
			return c.finish(ctx.Err(), attempt, last)
		}
	}
}

// wait takes a limiter slot, bounded by the call's deadline.
func (c *Client) wait(ctx context.Context, pol Retry, stats *Stats) error {
	d, err := ratelimit.Wait(ctx, c.Limiter, c.LimitKey, c.Windows, pol.MaxWait)
	stats.waited(d)
	return err
}

// finish turns a limiter or context failure into an *Error.
func (c *Client) finish(err error, attempts int, last *Error) error {
	var de *ratelimit.DelayError
	switch {
	case errors.As(err, &de):
		return &Error{Vendor: c.Vendor, Kind: KindRateLimited, Attempts: attempts, RetryAfter: de.RetryAfter,
			Message: "the documented request limit for this credential is used up and the wait would outlast the call's deadline"}
	case errors.Is(err, context.DeadlineExceeded):
		if last != nil && !isUncertain(last) {
			last.Kind = KindTimeout
			return last
		}
		return &Error{Vendor: c.Vendor, Kind: KindTimeout, Attempts: attempts, Err: err}
	case errors.Is(err, context.Canceled):
		return &Error{Vendor: c.Vendor, Kind: KindTimeout, Attempts: attempts, Message: "the call was cancelled", Err: err}
	}
	return &Error{Vendor: c.Vendor, Kind: KindUnavailable, Attempts: attempts, Err: err}
}

func isUncertain(e *Error) bool { return e.Kind == KindUncertain }

// send performs one HTTP exchange.
func (c *Client) send(ctx context.Context, req Request, body []byte) (int, http.Header, []byte, error) {
	u := c.BaseURL + req.Path
	if len(req.Query) > 0 {
		u += "?" + req.Query.Encode()
	}
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	hr, err := http.NewRequestWithContext(ctx, req.Method, u, rd)
	if err != nil {
		return 0, nil, nil, err
	}
	for k, v := range c.Header {
		hr.Header[k] = v
	}
	hr.Header.Set("Accept", "application/json")
	if body != nil {
		hr.Header.Set("Content-Type", "application/json")
	}
	start := time.Now()
	resp, err := c.HTTP.Do(hr)
	if err != nil {
		c.observe(0, start)
		c.log(ctx, req, 0, start, err)
		return 0, nil, nil, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxBody))
	c.observe(resp.StatusCode, start)
	c.log(ctx, req, resp.StatusCode, start, err)
	return resp.StatusCode, resp.Header, data, err
}

func (c *Client) observe(status int, start time.Time) {
	if c.Observe != nil {
		c.Observe(c.Vendor, status, time.Since(start))
	}
}

func (c *Client) log(ctx context.Context, req Request, status int, start time.Time, err error) {
	if c.Logger == nil || !c.Logger.Enabled(ctx, slog.LevelDebug) {
		return
	}
	attrs := []slog.Attr{slog.String("vendor", c.Vendor), slog.String("method", req.Method),
		slog.String("path", req.Path), slog.Int("status", status), slog.Duration("duration", time.Since(start))}
	if err != nil {
		attrs = append(attrs, slog.String("error", err.Error()))
	}
	c.Logger.LogAttrs(ctx, slog.LevelDebug, "vendor request", attrs...)
}

// outcome classifies one exchange; nil means success (out filled).
func (c *Client) outcome(req Request, status int, hdr http.Header, body []byte, err error, out any) *Error {
	if err != nil {
		if !req.Safe && !isDialError(err) {
			// The request may have reached the vendor before the connection
			// failed or the deadline passed: its effect is unknown.
			return &Error{Vendor: c.Vendor, Kind: KindUncertain, Message: "no answer: " + scrubNetError(err), Err: err}
		}
		if ctxErr := contextError(err); ctxErr != nil {
			return c.finish(ctxErr, 0, nil).(*Error)
		}
		return &Error{Vendor: c.Vendor, Kind: KindUnavailable, Message: "network error: " + scrubNetError(err), Err: err}
	}
	if status >= 200 && status < 300 {
		if out == nil || len(bytes.TrimSpace(body)) == 0 {
			return nil
		}
		if jerr := json.Unmarshal(body, out); jerr != nil {
			kind := KindProtocol
			if !req.Safe {
				kind = KindUncertain
			}
			return &Error{Vendor: c.Vendor, Kind: kind, Status: status, Message: "unreadable response body", Err: jerr}
		}
		return nil
	}
	e := &Error{Vendor: c.Vendor, Kind: kindForStatus(status), Status: status, RetryAfter: retryAfter(hdr)}
	if c.DecodeError != nil {
		c.DecodeError(body, e)
	} else {
		decodeGeneric(body, e)
	}
	if e.Message == "" {
		e.Message = http.StatusText(status)
	}
	if !req.Safe && e.Kind == KindUnavailable {
		// A 5xx to a write: the vendor may have acted before failing.
		e.Kind = KindUncertain
	}
	return e
}

// decodeGeneric reads the common {"error": "...", "message": "..."} shapes.
func decodeGeneric(body []byte, e *Error) {
	var v struct {
		Error   json.RawMessage `json:"error"`
		Message string          `json:"message"`
		Code    string          `json:"code"`
	}
	if json.Unmarshal(body, &v) != nil {
		return
	}
	e.Code, e.Message = v.Code, v.Message
	var s string
	if json.Unmarshal(v.Error, &s) == nil && s != "" {
		e.Message = s
	}
}

// retryAfter reads a Retry-After header in seconds or as an HTTP date.
func retryAfter(h http.Header) time.Duration {
	v := h.Get("Retry-After")
	if v == "" {
		return 0
	}
	if s, err := strconv.ParseFloat(v, 64); err == nil && s >= 0 {
		return time.Duration(s * float64(time.Second))
	}
	if t, err := http.ParseTime(v); err == nil {
		return max(time.Until(t), 0)
	}
	return 0
}

// backoff is full-jitter exponential backoff, at least the vendor's Retry-After.
func backoff(p Retry, attempt int, vendorSays time.Duration) time.Duration {
	d := p.Base << (attempt - 1)
	if d > p.Max || d <= 0 {
		d = p.Max
	}
	d = d/2 + rand.N(d/2+1)
	return max(d, vendorSays)
}

// isDialError reports a failure before the request could reach the vendor.
func isDialError(err error) bool {
	var op *net.OpError
	return errors.As(err, &op) && op.Op == "dial"
}

func contextError(err error) error {
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		return context.DeadlineExceeded
	case errors.Is(err, context.Canceled):
		return context.Canceled
	}
	return nil
}

// scrubNetError keeps the reason of a transport error without its URL,
// which may carry query parameters.
func scrubNetError(err error) string {
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	s := err.Error()
	if i := strings.LastIndex(s, ": "); i >= 0 && strings.Contains(s[:i], "://") {
		s = s[i+2:]
	}
	return s
}

// Stats counts what one tool call cost at the vendor: attempts sent and
// time spent waiting for the rate limiter. Carried in the context.
type Stats struct {
	attempts atomic.Int32
	waitNs   atomic.Int64
}

type statsKey struct{}

// WithStats returns a context that counts vendor attempts into s.
func WithStats(ctx context.Context, s *Stats) context.Context {
	return context.WithValue(ctx, statsKey{}, s)
}

func statsFrom(ctx context.Context) *Stats {
	s, _ := ctx.Value(statsKey{}).(*Stats)
	return s
}

func (s *Stats) attempt() {
	if s != nil {
		s.attempts.Add(1)
	}
}

func (s *Stats) waited(d time.Duration) {
	if s != nil && d > 0 {
		s.waitNs.Add(int64(d))
	}
}

// Attempts is the number of requests sent.
func (s *Stats) Attempts() int { return int(s.attempts.Load()) }

// Waited is the total limiter wait.
func (s *Stats) Waited() time.Duration { return time.Duration(s.waitNs.Load()) }
