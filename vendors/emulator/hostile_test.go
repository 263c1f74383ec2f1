package emulator_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/crm-mcp/crm-mcp/vendors/emulator"
)

const (
	bearer = "Bearer sk_live_hostile_0123456789"
	apiKey = "xk_live_hostile_9876543210"
	secret = `{"name":"Ada","phone":"+15550100"}`
)

// vendor is a two-route emulator on a loopback port, built on the kit.
func vendor(t *testing.T) (*emulator.Kit, *httptest.Server) {
	t.Helper()
	k := emulator.NewKit()
	mux := http.NewServeMux()
	mux.HandleFunc("GET /contacts", func(w http.ResponseWriter, r *http.Request) {
		emulator.JSON(w, http.StatusOK, map[string]any{"data": []string{"a"}})
	})
	mux.HandleFunc("POST /contacts", func(w http.ResponseWriter, r *http.Request) {
		emulator.JSON(w, http.StatusCreated, map[string]any{"data": map[string]string{"id": "cnt_1"}})
	})
	errBody := func(status int) string { return `{"error":"` + http.StatusText(status) + `"}` }
	srv := httptest.NewServer(k.Serve(emulator.Route, errBody, mux))
	t.Cleanup(srv.Close)
	return k, srv
}

// noRedirects is how a vendor client must be configured.
func noRedirects() *http.Client {
	return &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

// send makes a request carrying both kinds of key and a body.
func send(t *testing.T, c *http.Client, method, url string) *http.Response {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(secret))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", bearer)
	req.Header.Set("X-API-Key", apiKey)
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = resp.Body.Close() })
	return resp
}

func readAll(t *testing.T, r io.Reader) string {
	t.Helper()
	b, err := io.ReadAll(r)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestRedirectFault(t *testing.T) {
	k, srv := vendor(t)
	rec := emulator.NewRecorderServer()
	defer rec.Close()
	for _, status := range []int{0, 301, 302, 303, 307, 308} {
		target := rec.ForeignURL() + "/stolen?from=vendor"
		k.Inject(emulator.Fault{Method: http.MethodPost, Path: "/contacts", Redirect: target, Status: status})
		resp := send(t, noRedirects(), http.MethodPost, srv.URL+"/contacts")
		want := status
		if want == 0 {
			want = http.StatusFound
		}
		if resp.StatusCode != want || resp.Header.Get("Location") != target {
			t.Fatalf("status %d: got %d Location %q", status, resp.StatusCode, resp.Header.Get("Location"))
		}
	}
	if rec.Saw("") {
		t.Fatalf("a client that follows no redirect reached the second host: %+v", rec.Requests())
	}
	// Each fault was used once: the next request is the vendor's own.
	if resp := send(t, noRedirects(), http.MethodPost, srv.URL+"/contacts"); resp.StatusCode != http.StatusCreated {
		t.Fatalf("after the faults: %d", resp.StatusCode)
	}

	// The same fault against a client that follows: what the Recorder is for.
	k.Inject(emulator.Fault{Redirect: rec.ForeignURL() + "/stolen", Status: 307})
	resp := send(t, &http.Client{}, http.MethodPost, srv.URL+"/contacts")
	if resp.StatusCode != http.StatusOK || !rec.Saw("/stolen") {
		t.Fatalf("a following client: %d, recorder saw %+v", resp.StatusCode, rec.Requests())
	}
	if !rec.Saw(apiKey) || !rec.Saw(secret) {
		t.Fatalf("net/http forwards custom headers and a 307's body; the recorder saw %+v", rec.Requests())
	}
	if rec.Saw(bearer) {
		t.Fatalf("net/http drops Authorization for another host name; the recorder saw it")
	}
	got := rec.Requests()
	if len(got) != 1 || got[0].Method != http.MethodPost || got[0].Path != "/stolen" || got[0].Header.Get("X-Api-Key") != apiKey || string(got[0].Body) != secret {
		t.Fatalf("recorded %+v", got)
	}
}

// inflated counts the bytes of a bomb and checks each one.
type inflated struct {
	n      int64
	prefix string
	fill   byte
	bad    int64 // first offset that is neither prefix nor fill, or -1
}

func (c *inflated) Write(p []byte) (int, error) {
	for i, b := range p {
		off := c.n + int64(i)
		want := c.fill
		if off < int64(len(c.prefix)) {
			want = c.prefix[off]
		}
		if b != want && c.bad < 0 {
			c.bad = off
		}
	}
	c.n += int64(len(p))
	return len(p), nil
}

func totalAlloc() uint64 {
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.TotalAlloc
}

func TestGzipBombFault(t *testing.T) {
	k, srv := vendor(t)

	// Read whole, raw: the wire is small, the inflated body is exactly N,
	// and neither the emulator nor the test allocated anything like N.
	const n = 64 << 20
	k.Inject(emulator.Fault{GzipBomb: n, BombPrefix: `{"data":[`, BombFill: ' '})
	raw := &http.Client{Transport: &http.Transport{DisableCompression: true}}
	before := totalAlloc()
	resp := send(t, raw, http.MethodGet, srv.URL+"/contacts")
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Encoding") != "gzip" {
		t.Fatalf("status %d, Content-Encoding %q", resp.StatusCode, resp.Header.Get("Content-Encoding"))
	}
	var wire countingWriter
	zr, err := gzip.NewReader(io.TeeReader(resp.Body, &wire))
	if err != nil {
		t.Fatal(err)
	}
	body := &inflated{prefix: `{"data":[`, fill: ' ', bad: -1}
	if _, err := io.Copy(body, zr); err != nil {
		t.Fatal(err)
	}
	alloc := totalAlloc() - before
	if body.n != n || body.bad >= 0 {
		t.Fatalf("inflated to %d bytes (want %d), first wrong byte at %d", body.n, n, body.bad)
	}
	if wire.n > n/200 {
		t.Fatalf("%d bytes on the wire for %d inflated: not a bomb", wire.n, n)
	}
	if alloc > n/8 {
		t.Fatalf("serving and reading a %d-byte bomb allocated %d bytes", n, alloc)
	}
	t.Logf("%d MiB inflated from %d KiB on the wire; %d KiB allocated in all", n>>20, wire.n>>10, alloc>>10)

	// 1 GiB of zeros to a client that inflates transparently and gives up
	// after 1 MiB: the emulator stops (srv.Close waits for its handler).
	k.Inject(emulator.Fault{GzipBomb: 1 << 30})
	before = totalAlloc()
	resp = send(t, &http.Client{}, http.MethodGet, srv.URL+"/contacts")
	if !resp.Uncompressed {
		t.Fatal("net/http did not inflate the bomb: it should, having asked for gzip")
	}
	got, err := io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
	if err != nil || got != 1<<20 {
		t.Fatalf("read %d: %v", got, err)
	}
	_ = resp.Body.Close()
	srv.Close()
	if alloc := totalAlloc() - before; alloc > 64<<20 {
		t.Fatalf("a 1 GiB bomb cost %d bytes of allocation", alloc)
	}
}

type countingWriter struct{ n int64 }

func (c *countingWriter) Write(p []byte) (int, error) { c.n += int64(len(p)); return len(p), nil }

func TestTrickleFault(t *testing.T) {
	k, srv := vendor(t)

	// The real answer, a byte at a time: all of it arrives, and no sooner
	// than the gaps between its bytes allow.
	const gap = 20 * time.Millisecond
	k.Inject(emulator.Fault{Trickle: gap})
	start := time.Now()
	resp := send(t, noRedirects(), http.MethodGet, srv.URL+"/contacts")
	body := readAll(t, resp.Body)
	if body != "{\"data\":[\"a\"]}\n" || resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "application/json" {
		t.Fatalf("%d %q %q", resp.StatusCode, resp.Header.Get("Content-Type"), body)
	}
	if d, min := time.Since(start), time.Duration(len(body)-1)*gap; d < min {
		t.Fatalf("%d bytes in %s, want at least %s", len(body), d, min)
	}

	// A given body, bytes an hour apart: the first byte comes alone, and
	// the emulator lets go when the client does (else srv.Close hangs).
	k.Inject(emulator.Fault{Status: 200, Body: "ab", Trickle: time.Hour})
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL+"/contacts", nil)
	resp, err := noRedirects().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 16)
	m, err := io.ReadAtLeast(resp.Body, buf, 1)
	if err != nil || string(buf[:m]) != "a" {
		t.Fatalf("first read %q (%v), want just \"a\"", buf[:m], err)
	}
	cancel()
	if _, err := resp.Body.Read(buf); !errors.Is(err, context.Canceled) {
		t.Fatalf("after cancel: %v", err)
	}
	_ = resp.Body.Close()
	srv.Close()
}

func TestRetryAfterRawFault(t *testing.T) {
	k, srv := vendor(t)
	for _, raw := range []string{"999999999", "9223372036", "-5", "soon", "Fri, 31 Dec 2999 23:59:59 GMT", "1.5"} {
		for _, status := range []int{0, 503} {
			k.Inject(emulator.Fault{Status: status, RetryAfterRaw: raw, RetryAfter: 7})
			resp := send(t, noRedirects(), http.MethodGet, srv.URL+"/contacts")
			want := status
			if want == 0 {
				want = http.StatusTooManyRequests
			}
			body := readAll(t, resp.Body)
			if resp.StatusCode != want || resp.Header.Values("Retry-After")[0] != raw || len(resp.Header.Values("Retry-After")) != 1 ||
				body != `{"error":"`+http.StatusText(want)+`"}` {
				t.Fatalf("%q/%d: %d, Retry-After %q, body %s", raw, status, resp.StatusCode, resp.Header.Values("Retry-After"), body)
			}
		}
	}
}

func TestEchoCredentialsFault(t *testing.T) {
	k, srv := vendor(t)
	k.Inject(emulator.Fault{EchoCredentials: true})
	resp := send(t, noRedirects(), http.MethodGet, srv.URL+"/contacts")
	if resp.StatusCode != http.StatusOK || resp.Header.Get("X-Echo-Authorization") != bearer || resp.Header.Get("X-Echo-X-Api-Key") != apiKey {
		t.Fatalf("%d, headers %v", resp.StatusCode, resp.Header)
	}
	var env struct {
		Error   string              `json:"error"`
		Message string              `json:"message"`
		Headers map[string][]string `json:"headers"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&env); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(env.Message, bearer) || !strings.Contains(env.Error, apiKey) || env.Headers["X-Api-Key"][0] != apiKey {
		t.Fatalf("body %+v", env)
	}

	// A vendor-shaped error whose message is our key, escaped to stay JSON
	// whatever the header holds.
	k.Inject(emulator.Fault{EchoCredentials: true, Status: 401, Body: `{"error":"unauthorized","message":"bad key: ` + emulator.Echo + `"}`})
	req, _ := http.NewRequest(http.MethodGet, srv.URL+"/contacts", nil)
	req.Header.Set("X-API-Key", `k"\ey`)
	resp2, err := noRedirects().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp2.Body.Close()
	var e struct{ Error, Message string }
	if err := json.NewDecoder(resp2.Body).Decode(&e); err != nil {
		t.Fatal(err)
	}
	if resp2.StatusCode != 401 || e.Error != "unauthorized" || !strings.Contains(e.Message, `X-Api-Key: k"\ey`) {
		t.Fatalf("%d %+v", resp2.StatusCode, e)
	}
}

// The doc's wrong-typed 200 and the plain faults keep working.
func TestPlainFaults(t *testing.T) {
	k, srv := vendor(t)
	k.Inject(emulator.Fault{Status: 200, Body: `{"data":{"id":123,"name":["x"]}}`},
		emulator.Fault{Status: 429, RetryAfter: 30},
		emulator.Fault{Malformed: true},
		emulator.Fault{Method: http.MethodPost, Status: 503, AfterHandling: true})
	resp := send(t, noRedirects(), http.MethodGet, srv.URL+"/contacts")
	if b := readAll(t, resp.Body); resp.StatusCode != 200 || b != `{"data":{"id":123,"name":["x"]}}` {
		t.Fatalf("wrong-typed 200: %d %s", resp.StatusCode, b)
	}
	resp = send(t, noRedirects(), http.MethodGet, srv.URL+"/contacts")
	if b := readAll(t, resp.Body); resp.StatusCode != 429 || resp.Header.Get("Retry-After") != "30" || b != `{"error":"Too Many Requests"}` {
		t.Fatalf("429: %d %q %s", resp.StatusCode, resp.Header.Get("Retry-After"), b)
	}
	resp = send(t, noRedirects(), http.MethodGet, srv.URL+"/contacts")
	if b := readAll(t, resp.Body); resp.StatusCode != 200 || json.Valid([]byte(b)) {
		t.Fatalf("malformed: %d %s", resp.StatusCode, b)
	}
	resp = send(t, noRedirects(), http.MethodPost, srv.URL+"/contacts")
	if resp.StatusCode != 503 || k.Hits("POST /contacts") != 1 {
		t.Fatalf("after handling: %d", resp.StatusCode)
	}
	k.Inject(emulator.Fault{Drop: true})
	req, _ := http.NewRequest(http.MethodGet, srv.URL+"/contacts", nil)
	if _, err := noRedirects().Do(req); err == nil {
		t.Fatal("dropped connection answered")
	}
}

func TestRecorder(t *testing.T) {
	rec := emulator.NewRecorderServer()
	defer rec.Close()
	rec.Status, rec.Body = http.StatusTeapot, `{"ok":false}`
	resp := send(t, noRedirects(), http.MethodPut, rec.URL+"/deals/7?x=1")
	if b := readAll(t, resp.Body); resp.StatusCode != http.StatusTeapot || b != `{"ok":false}` {
		t.Fatalf("%d %s", resp.StatusCode, b)
	}
	got := rec.Requests()
	if len(got) != 1 {
		t.Fatalf("%d requests", len(got))
	}
	q := got[0]
	if q.Method != http.MethodPut || q.Path != "/deals/7" || q.Query != "x=1" || q.Header.Get("Authorization") != bearer ||
		!bytes.Equal(q.Body, []byte(secret)) || !strings.HasPrefix(q.Host, "127.0.0.1:") {
		t.Fatalf("recorded %+v", q)
	}
	for _, s := range []string{bearer, apiKey, "Ada", "x=1", "X-Api-Key"} {
		if !rec.Saw(s) {
			t.Errorf("Saw(%q) = false", s)
		}
	}
	if rec.Saw("sk_live_other") {
		t.Error("Saw a string never sent")
	}
}
