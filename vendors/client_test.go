package vendors_test

import (
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/iotest"
	"time"

	"github.com/crm-mcp/crm-mcp/vendors"
	"github.com/crm-mcp/crm-mcp/vendors/emulator"
	"github.com/crm-mcp/crm-mcp/vendors/ratelimit"
	"github.com/crm-mcp/crm-mcp/vendors/vivre"
	"github.com/crm-mcp/crm-mcp/vendors/vivre/vivretest"
)

// vendor is a hostile vendor on loopback: it answers each request with the
// next scripted fault, then normally ({"data":{"id":"r1"}}), and counts what
// reached it.
type vendor struct {
	*httptest.Server
	mu     sync.Mutex
	script []func(http.ResponseWriter, *http.Request)
	hits   atomic.Int32
	keys   atomic.Int32 // requests that carried the key
}

func newVendor(t *testing.T, script ...func(http.ResponseWriter, *http.Request)) *vendor {
	v := &vendor{script: script}
	v.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		v.hits.Add(1)
		if r.Header.Get("X-API-Key") != "" {
			v.keys.Add(1)
		}
		_, _ = io.Copy(io.Discard, r.Body)
		v.mu.Lock()
		var f func(http.ResponseWriter, *http.Request)
		if len(v.script) > 0 {
			f, v.script = v.script[0], v.script[1:]
		}
		v.mu.Unlock()
		if f != nil {
			f(w, r)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"data":{"id":"r1"}}`)
	}))
	t.Cleanup(v.Close)
	return v
}

const testKey = "sk_test_0123456789abcdef"

func client(baseURL string, o vendors.Options) *vendors.Client {
	o.Retry = vendors.Retry{Base: time.Millisecond, Max: 5 * time.Millisecond}
	return o.NewClient("acme", baseURL, http.Header{"X-Api-Key": {testKey}}, nil, testKey)
}

type record struct {
	ID string `json:"id"`
}

func call(c *vendors.Client, method string, timeout time.Duration) (*record, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	return vendors.Fetch[record](ctx, c, vendors.NewRequest(method, "/things", nil, map[string]string{"text": "hi"}))
}

func status(code int, retryAfter string) func(http.ResponseWriter, *http.Request) {
	return func(w http.ResponseWriter, _ *http.Request) {
		if retryAfter != "" {
			w.Header().Set("Retry-After", retryAfter)
		}
		w.WriteHeader(code)
		_, _ = io.WriteString(w, `{"error":"scripted"}`)
	}
}

func reset(w http.ResponseWriter, _ *http.Request) {
	conn, _, _ := w.(http.Hijacker).Hijack()
	_ = conn.Close()
}

func stall(w http.ResponseWriter, r *http.Request) {
	select {
	case <-r.Context().Done():
	case <-time.After(5 * time.Second):
	}
}

func redirectTo(code int, to string) func(http.ResponseWriter, *http.Request) {
	return func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, to+r.URL.Path, code)
	}
}

// closedURL is a loopback address nothing listens on: every dial fails.
func closedURL(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	_ = ln.Close()
	return "http://" + addr
}

// The retry policy, once for every vendor: which faults a read and a write
// survive, how often each reaches the vendor, and what the agent is told.
func TestRetryPolicy(t *testing.T) {
	second := newVendor(t)
	cases := []struct {
		fault  string
		script func(http.ResponseWriter, *http.Request)
		// for GET and POST: hits at the vendor, and the kind ("" = success)
		getHits, postHits int32
		getKind, postKind vendors.Kind
	}{
		{"429", status(429, "0"), 2, 1, "", vendors.KindRateLimited},
		{"502", status(502, ""), 2, 1, "", vendors.KindUncertain},
		{"503", status(503, ""), 2, 1, "", vendors.KindUncertain},
		{"504", status(504, ""), 2, 1, "", vendors.KindUncertain},
		{"reset", reset, 2, 1, "", vendors.KindUncertain},
		{"302", redirectTo(302, second.URL), 1, 1, vendors.KindMisconfigured, vendors.KindUncertain},
		{"307", redirectTo(307, second.URL), 1, 1, vendors.KindMisconfigured, vendors.KindUncertain},
		{"308", redirectTo(308, second.URL), 1, 1, vendors.KindMisconfigured, vendors.KindUncertain},
	}
	for _, tc := range cases {
		for _, method := range []string{http.MethodGet, http.MethodPost} {
			t.Run(tc.fault+"/"+method, func(t *testing.T) {
				v := newVendor(t, tc.script)
				_, err := call(client(v.URL, vendors.Options{}), method, 5*time.Second)
				wantHits, wantKind := tc.getHits, tc.getKind
				if method == http.MethodPost {
					wantHits, wantKind = tc.postHits, tc.postKind
				}
				if got := v.hits.Load(); got != wantHits {
					t.Errorf("vendor got %d requests, want %d", got, wantHits)
				}
				checkKind(t, err, wantKind)
			})
		}
	}
	if n := second.hits.Load(); n != 0 {
		t.Fatalf("a redirect target got %d requests", n)
	}
}

func checkKind(t *testing.T, err error, want vendors.Kind) *vendors.Error {
	t.Helper()
	if want == "" {
		if err != nil {
			t.Fatalf("want success, got %v", err)
		}
		return nil
	}
	e, ok := vendors.AsError(err)
	if !ok {
		t.Fatalf("want a %s *vendors.Error, got %v", want, err)
	}
	if e.Kind != want {
		t.Fatalf("kind %s, want %s (%v)", e.Kind, want, e)
	}
	return e
}

// A write is re-sent only when no connection to the vendor was ever made;
// a read is retried within its attempts.
func TestRetryPolicyDialAndTimeout(t *testing.T) {
	t.Run("dial error/POST is re-sent, then unavailable", func(t *testing.T) {
		_, err := call(client(closedURL(t), vendors.Options{}), http.MethodPost, 5*time.Second)
		e := checkKind(t, err, vendors.KindUnavailable)
		if e.Attempts != 4 || !e.NotApplied() {
			t.Fatalf("attempts %d, not applied %v", e.Attempts, e.NotApplied())
		}
	})
	t.Run("timeout/GET", func(t *testing.T) {
		v := newVendor(t, stall, stall, stall, stall)
		_, err := call(client(v.URL, vendors.Options{}), http.MethodGet, 300*time.Millisecond)
		checkKind(t, err, vendors.KindTimeout)
	})
	t.Run("timeout/POST is outcome_unknown, sent once", func(t *testing.T) {
		v := newVendor(t, stall)
		_, err := call(client(v.URL, vendors.Options{}), http.MethodPost, 300*time.Millisecond)
		e := checkKind(t, err, vendors.KindUncertain)
		if v.hits.Load() != 1 || e.NotApplied() {
			t.Fatalf("hits %d, not applied %v", v.hits.Load(), e.NotApplied())
		}
	})
}

// Issue 10.1: a redirect never carries the key or the body to another host,
// whatever http.Client the vendor client is given (here one that follows
// redirects), and a write is never reported as sent.
func TestRedirectsAreNeverFollowed(t *testing.T) {
	for _, code := range []int{301, 302, 303, 307, 308} {
		t.Run(fmt.Sprint(code), func(t *testing.T) {
			other := newVendor(t)
			v := newVendor(t, redirectTo(code, other.URL))
			c := client(v.URL, vendors.Options{HTTP: &http.Client{}})
			_, err := call(c, http.MethodPost, 5*time.Second)
			e := checkKind(t, err, vendors.KindUncertain)
			if other.hits.Load() != 0 {
				t.Fatalf("the other host got %d requests (%d with the key)", other.hits.Load(), other.keys.Load())
			}
			host := strings.TrimPrefix(other.URL, "http://")
			if !strings.Contains(e.Error(), host) || !strings.Contains(e.Error(), "ACME_BASE_URL") {
				t.Fatalf("error does not name the host and the setting: %v", e)
			}
		})
	}
}

// Issue 10.2: a send whose redirect points at a dead host reached the
// vendor 4 times (the hop's dial error counted as "never sent").
func TestWriteRedirectedToDeadHostIsSentOnce(t *testing.T) {
	v := newVendor(t, redirectTo(307, closedURL(t)), redirectTo(307, closedURL(t)), redirectTo(307, closedURL(t)), redirectTo(307, closedURL(t)))
	_, err := call(client(v.URL, vendors.Options{HTTP: &http.Client{}}), http.MethodPost, 5*time.Second)
	e := checkKind(t, err, vendors.KindUncertain)
	if v.hits.Load() != 1 || e.NotApplied() {
		t.Fatalf("vendor got %d requests; not applied %v", v.hits.Load(), e.NotApplied())
	}
}

// Issue 10.7: Retry-After is parsed safely and clamped.
func TestParseRetryAfter(t *testing.T) {
	now := time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)
	hour := time.Hour
	for _, tc := range []struct {
		in   string
		want time.Duration
		ok   bool
	}{
		{"0", 0, true},
		{"2", 2 * time.Second, true},
		{"1.5", 1500 * time.Millisecond, true},
		{"3600", hour, true},
		{"999999999", hour, false},
		{"9223372036", hour, false},
		{"99999999999999999999999", hour, false},
		{"-5", 0, false},
		{"NaN", 0, false},
		{"soon", 0, false},
		{now.Add(30 * time.Second).Format(http.TimeFormat), 30 * time.Second, true},
		{now.Add(-time.Minute).Format(http.TimeFormat), 0, true},
		{now.AddDate(50, 0, 0).Format(http.TimeFormat), hour, false},
	} {
		got, ok := vendors.ParseRetryAfter(tc.in, now, hour)
		if got != tc.want || ok != tc.ok {
			t.Errorf("ParseRetryAfter(%q) = %v, %v; want %v, %v", tc.in, got, ok, tc.want, tc.ok)
		}
	}
}

// A 429 with a huge Retry-After pauses the credential for at most the
// clamp, never for decades (nor a negative, overflowed wait).
func TestHugeRetryAfterPausesAtMostTheClamp(t *testing.T) {
	for _, ra := range []string{"999999999", "9223372036"} {
		t.Run(ra, func(t *testing.T) {
			v := newVendor(t, status(429, ra))
			lim := ratelimit.NewMemory()
			c := client(v.URL, vendors.Options{Limiter: lim})
			c.Retry.MaxRetryAfter = time.Minute
			c.Windows = []ratelimit.Window{{Limit: 1000, Period: time.Minute}}
			_, err := call(c, http.MethodPost, 5*time.Second)
			e := checkKind(t, err, vendors.KindRateLimited)
			if e.RetryAfter != time.Minute {
				t.Fatalf("RetryAfter %v, want the 1m clamp", e.RetryAfter)
			}
			_, rerr := lim.Reserve(context.Background(), c.LimitKey, c.Windows, 0)
			var de *ratelimit.DelayError
			if !errors.As(rerr, &de) || de.RetryAfter <= 0 || de.RetryAfter > time.Minute {
				t.Fatalf("pause after the 429: %v", rerr)
			}
		})
	}
}

// gzipBomb answers 200 with a gzip body that decompresses to n bytes while
// staying small on the wire; it stops when the client hangs up.
func gzipBomb(n int64) func(http.ResponseWriter, *http.Request) {
	return func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Content-Encoding", "gzip")
		zw, _ := gzip.NewWriterLevel(w, gzip.BestCompression)
		_, _ = io.WriteString(zw, `{"data":"`)
		chunk := make([]byte, 64<<10)
		for i := range chunk {
			chunk[i] = 'a'
		}
		for sent := int64(0); sent < n; sent += int64(len(chunk)) {
			if _, err := zw.Write(chunk); err != nil {
				return
			}
		}
		_ = zw.Close()
	}
}

// Issue 10.8: a decompressed body is capped per response, and the memory
// 40 concurrent calls take stays near 40 × the cap (before: 16 MiB reads
// grown by ReadAll, 890 MB RSS).
func TestGzipBombIsCapped(t *testing.T) {
	const calls = 40
	script := make([]func(http.ResponseWriter, *http.Request), calls)
	for i := range script {
		script[i] = gzipBomb(1 << 30)
	}
	v := newVendor(t, script...)
	c := client(v.URL, vendors.Options{MaxBody: 1 << 20, Gates: vendors.NewGates(8)})
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	var wg sync.WaitGroup
	errs := make(chan error, calls)
	for range calls {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := call(c, http.MethodGet, 30*time.Second)
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	runtime.ReadMemStats(&after)
	for err := range errs {
		e := checkKind(t, err, vendors.KindProtocol)
		if !strings.Contains(e.Error(), "larger than 1048576 bytes") {
			t.Fatalf("error does not say the body was too large: %v", e)
		}
	}
	perCall := (after.TotalAlloc - before.TotalAlloc) / calls
	if perCall > 4<<20 {
		t.Fatalf("each call allocated %d bytes reading a body capped at 1 MiB", perCall)
	}
}

// At most Gate-many calls to one vendor are under way at once.
func TestInflightIsBounded(t *testing.T) {
	var now, peak atomic.Int32
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		n := now.Add(1)
		for p := peak.Load(); n > p && !peak.CompareAndSwap(p, n); p = peak.Load() {
		}
		<-release
		now.Add(-1)
		_, _ = io.WriteString(w, `{"id":"r1"}`)
	}))
	defer srv.Close()
	gates := vendors.NewGates(2)
	a, b := client(srv.URL, vendors.Options{Gates: gates}), client(srv.URL, vendors.Options{Gates: gates})
	var wg sync.WaitGroup
	for i := range 6 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, _ = call([]*vendors.Client{a, b}[i%2], http.MethodGet, 10*time.Second)
		}()
	}
	deadline := time.Now().Add(5 * time.Second)
	for now.Load() < 2 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	close(release)
	wg.Wait()
	if p := peak.Load(); p != 2 {
		t.Fatalf("peak concurrent calls %d, want 2", p)
	}
}

// Issue 10.10: a 2xx whose body has the wrong types is never a success.
func TestWrongTypedSuccessIsNotSuccess(t *testing.T) {
	for _, body := range []string{`{"data":{"id":123}}`, `{"data":{}}`, `{}`, `{"error":"x","headers":{}}`, `{"data":null}`, `{"data":"x"}`, `[1,2]`} {
		for _, method := range []string{http.MethodGet, http.MethodPost} {
			t.Run(body+"/"+method, func(t *testing.T) {
				v := newVendor(t, func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, body) },
					func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, body) },
					func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, body) },
					func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, body) })
				_, err := call(client(v.URL, vendors.Options{}), method, 5*time.Second)
				want := vendors.KindProtocol
				if method == http.MethodPost {
					want = vendors.KindUncertain
				}
				checkKind(t, err, want)
			})
		}
	}
}

// Issue 10.10: an id of "." or ".." cannot walk a request to another path.
func TestDotSegmentsAreRefused(t *testing.T) {
	v := newVendor(t)
	c := client(v.URL, vendors.Options{})
	for _, id := range []string{"..", ".", "%2e%2e", "%2E"} {
		path := "/whatsapp_templates/" + url.PathEscape(id) + "/send_message"
		if id[0] == '%' {
			path = "/whatsapp_templates/" + id + "/send_message"
		}
		err := c.Do(context.Background(), vendors.NewRequest(http.MethodPost, path, nil, nil), nil)
		e := checkKind(t, err, vendors.KindInvalid)
		if e.Fields["id"] == "" {
			t.Fatalf("error does not name the id: %v", e)
		}
	}
	if v.hits.Load() != 0 {
		t.Fatalf("vendor got %d requests", v.hits.Load())
	}
}

// An empty 2xx where a record was expected is no answer, like {}: a read
// is retried and then bad_response, a write is outcome_unknown and sent
// once; never a zero record reported as success.
func TestEmptySuccessIsNotARecord(t *testing.T) {
	empty := map[string]func(http.ResponseWriter, *http.Request){
		"200":        func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusOK) },
		"200 spaces": func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, " \r\n") },
		"201":        func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusCreated) },
		"204":        func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusNoContent) },
	}
	for name, answer := range empty {
		for _, method := range []string{http.MethodGet, http.MethodPost} {
			t.Run(name+"/"+method, func(t *testing.T) {
				v := newVendor(t, answer, answer, answer, answer)
				rec, err := call(client(v.URL, vendors.Options{}), method, 5*time.Second)
				want, hits := vendors.KindProtocol, int32(4)
				if method == http.MethodPost {
					want, hits = vendors.KindUncertain, 1
				}
				if rec != nil {
					t.Fatalf("a record %+v from an empty answer", rec)
				}
				e := checkKind(t, err, want)
				if !strings.Contains(e.Error(), "empty") || v.hits.Load() != hits {
					t.Fatalf("hits %d (want %d): %v", v.hits.Load(), hits, e)
				}
			})
		}
	}
	// A call that expects no answer (out == nil) still takes an empty one.
	for name, answer := range empty {
		t.Run(name+"/no answer expected", func(t *testing.T) {
			v := newVendor(t, answer)
			err := client(v.URL, vendors.Options{}).Do(context.Background(), vendors.NewRequest(http.MethodPost, "/things", nil, nil), nil)
			if err != nil || v.hits.Load() != 1 {
				t.Fatalf("hits %d: %v", v.hits.Load(), err)
			}
		})
	}
}

// The same through a vendor client and its emulator: Vivre acts, then
// answers an empty 200. GetContact reads again and gets the contact;
// CreateContact is outcome_unknown, not a contact with no id.
func TestEmptySuccessThroughVendorClient(t *testing.T) {
	srv := vivretest.NewServer(vivretest.Options{})
	t.Cleanup(srv.Close)
	c := vivre.New(vivre.Config{APIKey: vivretest.APIKey, WorkspaceID: vivretest.WorkspaceID, Plan: "pro", BaseURL: srv.URL},
		vendors.Options{Retry: vendors.Retry{Base: time.Millisecond}})
	ctx := context.Background()
	t.Run("GetContact", func(t *testing.T) {
		srv.Inject(emulator.Fault{Method: http.MethodGet, AfterHandling: true})
		got, err := c.GetContact(ctx, "cnt_8800")
		if err != nil || got.ID != "cnt_8800" || srv.Hits("GET /contacts/{id}") != 2 {
			t.Fatalf("GetContact = %+v, %v after %d requests", got, err, srv.Hits("GET /contacts/{id}"))
		}
	})
	t.Run("CreateContact", func(t *testing.T) {
		srv.Inject(emulator.Fault{Method: http.MethodPost, AfterHandling: true})
		before := srv.ContactCount()
		ct, err := c.CreateContact(ctx, vivre.NewContact{Name: "Asha Roy", Email: "asha@roy.example"})
		if ct != nil {
			t.Fatalf("CreateContact = %+v from an empty answer", ct)
		}
		e := checkKind(t, err, vendors.KindUncertain)
		if srv.Hits("POST /contacts") != 1 || srv.ContactCount() != before+1 || e.NotApplied() {
			t.Fatalf("sent %d times, contacts %d -> %d, not applied %v", srv.Hits("POST /contacts"), before, srv.ContactCount(), e.NotApplied())
		}
	})
}

// answeredTransport answers every request itself, as a wrapping or
// recording RoundTripper may, without reporting a connection (no GotConn):
// a 200 whose body breaks off.
type answeredTransport struct{ hits atomic.Int32 }

func (a *answeredTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	a.hits.Add(1)
	return &http.Response{StatusCode: http.StatusOK, Header: http.Header{}, Request: r,
		Body: io.NopCloser(io.MultiReader(strings.NewReader(`{"data":{"id"`), iotest.ErrReader(io.ErrUnexpectedEOF)))}, nil
}

// A write the vendor answered reached it, whether or not the transport
// reported a connection: it is outcome_unknown and never sent again (it
// was re-sent 4 times when only GotConn counted).
func TestAnsweredWriteIsNeverResent(t *testing.T) {
	tr := &answeredTransport{}
	_, err := call(client("http://vendor.invalid", vendors.Options{HTTP: &http.Client{Transport: tr}}), http.MethodPost, 5*time.Second)
	e := checkKind(t, err, vendors.KindUncertain)
	if tr.hits.Load() != 1 || e.NotApplied() {
		t.Fatalf("sent %d times, not applied %v", tr.hits.Load(), e.NotApplied())
	}
}
