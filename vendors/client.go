// Package vendors is the REST core every vendor client stands on: request
// building, auth headers, the rate-limit wait, the retry policy and the
// decoding of failures into one *Error type. It knows nothing of MCP.
//
// Every vendor is treated as possibly hostile:
//   - redirects are never followed (a 3xx is an error naming the host it
//     pointed at), so no key or body ever reaches a host but the base URL's;
//   - a response body is read up to MaxBody bytes after decompression, and
//     at most MaxInflight calls per vendor are under way at once, so a gzip
//     bomb or a flood of huge answers cannot exhaust memory;
//   - Retry-After is parsed safely and clamped to Retry.MaxRetryAfter;
//   - a 2xx whose body does not decode into the documented shape, or is
//     empty where an answer is expected, is a failure, never a success.
//
// Retry policy, the part that must never surprise a customer:
//   - a request marked Safe (GET, PUT, DELETE, and read-only POST lookups)
//     is retried on 429, 502, 503, 504, network errors and unreadable
//     bodies, with jittered exponential backoff, only while the call's
//     deadline allows;
//   - any other request (a POST that creates or sends) is re-sent only when
//     no connection to the vendor was ever made for it (the dial or TLS
//     handshake failed). Once a connection existed, the vendor may have
//     received it: any failure is KindUncertain and nothing is sent again.
package vendors

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/http/httptrace"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/crm-mcp/crm-mcp/vendors/ratelimit"
)

// Defaults of the hostile-vendor bounds (each configurable per Client).
const (
	// DefaultMaxBody is the most of one response read, after
	// decompression: the largest documented page (1,000 records) is well
	// under 1 MiB.
	DefaultMaxBody = 4 << 20
	// DefaultMaxInflight is how many calls to one vendor may be under way
	// at once; more wait (within their deadline) for a free place.
	DefaultMaxInflight = 8
	// DefaultMaxRetryAfter is the longest a vendor's Retry-After is obeyed:
	// the limiter's own bound on a pause, so the two never disagree.
	DefaultMaxRetryAfter = ratelimit.DefaultMaxPause
)

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
	// Identity is a one-way digest of the vendor and the credential this
	// client sends: the duplicate-send guard's scope. Two credentials never
	// share one.
	Identity string
	// MaxBody caps a response body after decompression (0: DefaultMaxBody).
	MaxBody int64
	// Inflight bounds concurrent calls to the vendor; clients of one vendor
	// share it (nil: no bound).
	Inflight *Gate
	// DecodeError reads the vendor's error envelope into e (Code, Message,
	// Fields with snake_case argument names). Nil: a generic reader.
	DecodeError func(body []byte, e *Error)
	// Observe, when set, is told of every response (status 0: no response).
	Observe func(vendor string, status int, d time.Duration)

	hdrOnce      sync.Once
	hdr, hdrBody http.Header
}

// Retry bounds the retry loop of safe requests.
type Retry struct {
	Attempts int           // total attempts for a safe request (default 4)
	Base     time.Duration // first backoff (default 100ms)
	Max      time.Duration // backoff ceiling (default 2s)
	MaxWait  time.Duration // longest limiter wait when ctx has no deadline (default 30s)
	// MaxRetryAfter clamps a vendor's Retry-After (default 1h): a hostile
	// or broken vendor cannot pause a credential for years.
	MaxRetryAfter time.Duration
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
	if r.MaxRetryAfter <= 0 {
		r.MaxRetryAfter = DefaultMaxRetryAfter
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
// pooled keep-alive connections sized for concurrent agents and response
// headers bounded. It sets no redirect policy: Client.send uses only its
// RoundTripper, which never follows a redirect.
func NewHTTPClient() *http.Client {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxIdleConns = 256
	t.MaxIdleConnsPerHost = 64
	t.IdleConnTimeout = 90 * time.Second
	t.MaxResponseHeaderBytes = 64 << 10
	return &http.Client{Transport: t}
}

// Gate bounds how many calls to one vendor are under way at once.
type Gate struct{ slots chan struct{} }

// NewGate admits n calls at once (n <= 0: DefaultMaxInflight).
func NewGate(n int) *Gate {
	if n <= 0 {
		n = DefaultMaxInflight
	}
	return &Gate{slots: make(chan struct{}, n)}
}

func (g *Gate) enter(ctx context.Context) error {
	if g == nil {
		return nil
	}
	select {
	case g.slots <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (g *Gate) leave() {
	if g != nil {
		<-g.slots
	}
}

// Do sends req, waiting for the limiter and retrying what is safe, and
// decodes a 2xx JSON body into out (when out is non-nil: an empty body is
// then a failure). Every failure is an *Error.
func (c *Client) Do(ctx context.Context, req Request, out any) error {
	if e := c.checkPath(req.Path); e != nil {
		return e
	}
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
		x := c.send(ctx, req, body)
		e := c.outcome(ctx, req, x, out)
		if e == nil {
			return nil
		}
		e.Attempts = attempt
		last = e
		if x.status == http.StatusTooManyRequests && c.Limiter != nil {
			pause := e.RetryAfter
			if pause <= 0 {
				pause = time.Second
			}
			_ = c.Limiter.Pause(ctx, c.LimitKey, pause)
		}
		retry := e.Kind == KindRateLimited || e.Kind == KindUnavailable || e.Kind == KindProtocol && !x.tooLarge
		if !req.Safe {
			// A write goes again only if it never reached the vendor.
			retry = !mayBeApplied(req, x) && contextError(x.err) == nil
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

// checkPath refuses a path with a "." or ".." segment: an id such as ".."
// must not walk the request to another endpoint of the vendor.
func (c *Client) checkPath(path string) *Error {
	if !strings.Contains(path, ".") && !strings.Contains(path, "%") {
		return nil
	}
	for seg := range strings.SplitSeq(path, "/") {
		if u, err := url.PathUnescape(seg); err == nil && (u == "." || u == "..") {
			return &Error{Vendor: c.Vendor, Kind: KindInvalid, Fields: map[string]string{"id": "must be a record id, not " + strconv.Quote(u)}}
		}
	}
	return nil
}

// wait takes a limiter slot, bounded by the call's deadline.
func (c *Client) wait(ctx context.Context, pol Retry, stats *Stats) error {
	d, err := ratelimit.Wait(ctx, c.Limiter, c.LimitKey, c.Windows, pol.MaxWait)
	stats.waited(d)
	return err
}

// finish turns a limiter or context failure into an *Error.
func (c *Client) finish(err error, attempts int, last *Error) *Error {
	var de *ratelimit.DelayError
	switch {
	case errors.As(err, &de):
		return &Error{Vendor: c.Vendor, Kind: KindRateLimited, Attempts: attempts, RetryAfter: de.RetryAfter,
			Message: "the request limit for this credential is used up and the wait would outlast the call's deadline"}
	case errors.Is(err, context.DeadlineExceeded):
		if last != nil && !isUncertain(last) {
			last.Kind = KindTimeout
			return last
		}
		if last != nil {
			return last
		}
		return &Error{Vendor: c.Vendor, Kind: KindTimeout, Attempts: attempts, Err: err}
	case errors.Is(err, context.Canceled):
		if last != nil && isUncertain(last) {
			return last
		}
		return &Error{Vendor: c.Vendor, Kind: KindCancelled, Attempts: attempts, Message: "the call was cancelled", Err: err}
	}
	return &Error{Vendor: c.Vendor, Kind: KindUnavailable, Attempts: attempts, Err: err}
}

func isUncertain(e *Error) bool { return e.Kind == KindUncertain }

// exchange is what one HTTP attempt produced.
type exchange struct {
	status    int
	header    http.Header
	body      []byte
	err       error // transport failure, or a body that could not be read whole
	connected bool  // a write only: a connection to the vendor existed, so it may have arrived
	tooLarge  bool  // the body passed MaxBody
}

// mayBeApplied reports whether a failed attempt of req may still have
// changed something at the vendor: a write that reached it (it answered,
// or a connection existed). Such a failure is outcome_unknown and the
// write is never sent again.
func mayBeApplied(req Request, x exchange) bool {
	return !req.Safe && (x.status != 0 || x.connected)
}

// send performs one HTTP exchange. It never follows a redirect: the
// transport is called directly, so no http.Client setting can send our
// headers or body to another host.
func (c *Client) send(ctx context.Context, req Request, body []byte) (x exchange) {
	if err := c.Inflight.enter(ctx); err != nil {
		return exchange{err: err}
	}
	defer c.Inflight.leave()
	u := c.BaseURL + req.Path
	if len(req.Query) > 0 {
		u += "?" + req.Query.Encode()
	}
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	// Only a write needs to know whether it reached the vendor.
	var connected atomic.Bool
	tctx := ctx
	if !req.Safe {
		tctx = httptrace.WithClientTrace(ctx, &httptrace.ClientTrace{GotConn: func(httptrace.GotConnInfo) { connected.Store(true) }})
	}
	hr, err := http.NewRequestWithContext(tctx, req.Method, u, rd)
	if err != nil {
		return exchange{err: err}
	}
	hr.Header = c.headers(body != nil)
	start := time.Now()
	resp, err := c.transport().RoundTrip(hr)
	x.connected = connected.Load()
	if err != nil {
		c.observe(0, start)
		c.log(ctx, req, 0, start, err)
		x.err = err
		return x
	}
	defer resp.Body.Close()
	x.status, x.header = resp.StatusCode, resp.Header
	limit := c.maxBody()
	if resp.ContentLength > limit {
		x.tooLarge = true
	} else {
		x.body, x.err = io.ReadAll(io.LimitReader(resp.Body, limit+1))
		if int64(len(x.body)) > limit {
			x.body, x.tooLarge = nil, true
		}
	}
	c.observe(resp.StatusCode, start)
	c.log(ctx, req, resp.StatusCode, start, x.err)
	return x
}

// headers are the client's request headers, built once and shared by its
// requests (a transport never changes a request's headers).
func (c *Client) headers(withBody bool) http.Header {
	c.hdrOnce.Do(func() {
		c.hdr = c.Header.Clone()
		if c.hdr == nil {
			c.hdr = http.Header{}
		}
		c.hdr.Set("Accept", "application/json")
		c.hdrBody = c.hdr.Clone()
		c.hdrBody.Set("Content-Type", "application/json")
	})
	if withBody {
		return c.hdrBody
	}
	return c.hdr
}

func (c *Client) transport() http.RoundTripper {
	if c.HTTP != nil && c.HTTP.Transport != nil {
		return c.HTTP.Transport
	}
	return http.DefaultTransport
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
		slog.String("path", req.Path), slog.Int("status", status), slog.Float64("duration_ms", ms(time.Since(start)))}
	if err != nil {
		attrs = append(attrs, slog.String("error", scrubNetError(err)))
	}
	c.Logger.LogAttrs(ctx, slog.LevelDebug, "vendor request", attrs...)
}

// ms is d in milliseconds, for log lines that carry their unit in the key.
func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// outcome classifies one exchange; nil means success (out filled).
func (c *Client) outcome(ctx context.Context, req Request, x exchange, out any) *Error {
	unsure := mayBeApplied(req, x)
	unreadable := KindProtocol // what an unreadable answer is
	if unsure {
		unreadable = KindUncertain
	}
	switch {
	case x.err != nil && x.status == 0:
		if ctxErr := contextError(x.err); ctxErr != nil {
			e := c.finish(ctxErr, 0, nil)
			if unsure {
				e.Kind, e.Message = KindUncertain, "no answer before the call ended"
			}
			return e
		}
		if unsure {
			return &Error{Vendor: c.Vendor, Kind: KindUncertain, Message: "no answer: " + scrubNetError(x.err), Err: x.err}
		}
		return &Error{Vendor: c.Vendor, Kind: KindUnavailable, Message: "network error: " + scrubNetError(x.err), Err: x.err}
	case x.status >= 300 && x.status < 400:
		return c.redirected(req, x)
	case x.tooLarge:
		return &Error{Vendor: c.Vendor, Kind: unreadable, Status: x.status,
			Message: fmt.Sprintf("the response was larger than %d bytes and was not read", c.maxBody())}
	case x.err != nil:
		return &Error{Vendor: c.Vendor, Kind: unreadable, Status: x.status, Message: "the response body could not be read: " + scrubNetError(x.err), Err: x.err}
	case x.status >= 200 && x.status < 300:
		if out == nil {
			return nil
		}
		// An empty body where an answer was expected is no answer, like
		// {}: never a zero record reported as success.
		jerr := errEmptyBody
		if len(bytes.TrimSpace(x.body)) > 0 {
			jerr = json.Unmarshal(x.body, out)
		}
		if jerr != nil {
			return &Error{Vendor: c.Vendor, Kind: unreadable, Status: x.status,
				Message: "the response does not have the documented shape (" + shapeError(jerr) + ")", Err: jerr}
		}
		return nil
	}
	e := &Error{Vendor: c.Vendor, Kind: kindForStatus(x.status), Status: x.status}
	e.RetryAfter = c.retryAfter(ctx, x.header)
	if c.DecodeError != nil {
		c.DecodeError(x.body, e)
	} else {
		decodeGeneric(x.body, e)
	}
	if e.Message == "" {
		e.Message = http.StatusText(x.status)
	}
	if unsure && e.Kind == KindUnavailable {
		// A 5xx to a write: the vendor may have acted before failing.
		e.Kind = KindUncertain
	}
	return e
}

func (c *Client) maxBody() int64 {
	if c.MaxBody > 0 {
		return c.MaxBody
	}
	return DefaultMaxBody
}

// redirected is the error of a 3xx: never followed, it names only the host
// it pointed at and the setting that fixes it. For a write it is
// outcome_unknown: the vendor may have acted before redirecting.
func (c *Client) redirected(req Request, x exchange) *Error {
	where := "no Location"
	if loc, err := url.Parse(x.header.Get("Location")); err == nil && loc.Host != "" {
		where = "host " + strconv.Quote(truncate(loc.Host, 100))
	} else if err == nil && loc.Path != "" {
		where = "another path on the same host"
	}
	setting := strings.ToUpper(c.Vendor) + "_BASE_URL"
	e := &Error{Vendor: c.Vendor, Kind: KindMisconfigured, Status: x.status,
		Message: fmt.Sprintf("the vendor answered with a redirect (to %s), which is never followed so that no key or message goes to another address; if the vendor has moved, set %s to the final URL", where, setting)}
	if mayBeApplied(req, x) {
		e.Kind = KindUncertain
	}
	return e
}

// errEmptyBody is a 2xx without a body where one was expected.
var errEmptyBody = errors.New("the body is empty")

// shapeError keeps a JSON decode error's reason without echoing the body.
func shapeError(err error) string {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		field := te.Field
		if field == "" {
			field = "the top level"
		}
		return fmt.Sprintf("%s is a JSON %s, expected %s", field, te.Value, te.Type)
	}
	if errors.Is(err, errEmptyRecord) || errors.Is(err, errEmptyBody) {
		return err.Error()
	}
	var se *json.SyntaxError
	if errors.As(err, &se) {
		return fmt.Sprintf("not JSON at byte %d", se.Offset)
	}
	return "not the expected JSON"
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n] + "..."
	}
	return s
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

// retryAfter reads a Retry-After header (whole seconds or an HTTP date),
// clamped to the policy's maximum. Garbage, negative and overflowing
// values count as absent; a clamped one is logged.
func (c *Client) retryAfter(ctx context.Context, h http.Header) time.Duration {
	v := strings.TrimSpace(h.Get("Retry-After"))
	if v == "" {
		return 0
	}
	limit := c.Retry.withDefaults().MaxRetryAfter
	d, ok := ParseRetryAfter(v, time.Now(), limit)
	if !ok && c.Logger != nil {
		c.Logger.LogAttrs(ctx, slog.LevelWarn, "vendor Retry-After clamped", slog.String("vendor", c.Vendor),
			slog.String("retry_after", truncate(v, 40)), slog.Float64("used_seconds", d.Seconds()))
	}
	return d
}

// ParseRetryAfter reads v as delay-seconds or an HTTP date relative to now.
// ok is false when v was out of range or unreadable: d is then the clamped
// value (limit for a huge delay, 0 for garbage or the past).
func ParseRetryAfter(v string, now time.Time, limit time.Duration) (d time.Duration, ok bool) {
	if n, err := strconv.ParseFloat(v, 64); err == nil {
		switch {
		case n != n || n < 0: // NaN or negative
			return 0, false
		case n > limit.Seconds():
			return limit, false
		}
		return time.Duration(n * float64(time.Second)), true
	}
	t, err := http.ParseTime(v)
	if err != nil {
		return 0, false
	}
	switch until := t.Sub(now); {
	case until <= 0:
		return 0, true
	case until > limit || t.After(now.Add(limit)):
		return limit, false
	default:
		return until, true
	}
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
