package main

import (
	"bufio"
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mark3labs/mcp-go/client"

	"github.com/crm-mcp/crm-mcp/vendors/vivre/vivretest"
)

// startWith serves a sandbox app built from kv, with cfg then adjusted by
// set (fields that are not env vars), on ln (nil: a new loopback port).
func startWith(t *testing.T, log *slog.Logger, ln net.Listener, set func(*Config), kv ...string) (*app, string) {
	t.Helper()
	cfg, l := testConfig(t, append([]string{"CRM_MCP_SANDBOX", "true", "CRM_MCP_SHUTDOWN_GRACE", "2s"}, kv...)...)
	if set != nil {
		set(&cfg)
	}
	return serveApp(t, cfg, l, log, ln)
}

// jsonLogs is a JSON logger writing into a buffer the test can read.
func jsonLogs(t *testing.T) (*slog.Logger, *syncBuffer) {
	t.Helper()
	var buf syncBuffer
	log, err := newLogger("debug", "json", &buf)
	if err != nil {
		t.Fatal(err)
	}
	return log, &buf
}

// vivreWithKey serves a Vivre emulator that takes key, and an app on it
// configured with key (kv adds env vars) that logs JSON at debug level into
// logs; the emulator is closed when the test ends.
func vivreWithKey(t *testing.T, key string, kv ...string) (vendor *vivretest.Server, base string, logs *syncBuffer) {
	t.Helper()
	vendor = vivretest.NewServer(vivretest.Options{APIKey: key})
	t.Cleanup(vendor.Close)
	log, logs := jsonLogs(t)
	_, base = startApp(t, log, append([]string{"VIVRE_API_KEY", key, "VIVRE_WORKSPACE_ID", vivretest.WorkspaceID, "VIVRE_BASE_URL", vendor.URL}, kv...)...)
	return vendor, base, logs
}

// eventually polls cond until it holds or a generous deadline passes.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(30 * time.Second); !cond(); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("after 30 s: %s", what)
		}
	}
}

// rawGet sends a keep-alive GET on conn and reads the response.
func rawGet(t *testing.T, conn net.Conn, br *bufio.Reader, path string) *http.Response {
	t.Helper()
	if _, err := io.WriteString(conn, "GET "+path+" HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	_ = conn.SetReadDeadline(time.Now().Add(30 * time.Second))
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp
}

// closedByServer reports whether the server closed conn (EOF) rather than
// leaving it open until a generous client-side deadline.
func closedByServer(conn net.Conn, br *bufio.Reader) bool {
	_ = conn.SetReadDeadline(time.Now().Add(15 * time.Second))
	_, err := br.ReadByte()
	var ne net.Error
	return err != nil && !(errors.As(err, &ne) && ne.Timeout())
}

// 20,500 idle keep-alive connections once used up every file descriptor:
// an idle connection must be closed after CRM_MCP_IDLE_TIMEOUT.
func TestIdleKeepAliveConnectionIsClosed(t *testing.T) {
	base := startHTTP(t, "CRM_MCP_IDLE_TIMEOUT", "200ms")
	conn, err := net.Dial("tcp", strings.TrimPrefix(base, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	br := bufio.NewReader(conn)
	if resp := rawGet(t, conn, br, "/healthz"); resp.StatusCode != 200 || resp.Close {
		t.Fatalf("/healthz: %d, close %v", resp.StatusCode, resp.Close)
	}
	if !closedByServer(conn, br) {
		t.Fatal("an idle keep-alive connection was still open after 15 s (idle timeout 200 ms)")
	}
}

// A body that never arrives must not hold a connection (and a goroutine) forever.
func TestSlowRequestBodyIsCutOff(t *testing.T) {
	base := startHTTP(t, "CRM_MCP_READ_TIMEOUT", "200ms")
	conn, err := net.Dial("tcp", strings.TrimPrefix(base, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := io.WriteString(conn, "POST /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"+
		"Accept: application/json, text/event-stream\r\nContent-Length: 1000\r\n\r\n{\"jsonrpc\":"); err != nil {
		t.Fatal(err)
	}
	_ = conn.SetReadDeadline(time.Now().Add(15 * time.Second))
	_, err = io.ReadAll(conn)
	if ne := net.Error(nil); errors.As(err, &ne) && ne.Timeout() {
		t.Fatal("a request whose body never came held its connection for 15 s (read timeout 200 ms)")
	}
}

// The read timeout must not cut SSE streams or responses that take longer
// than it: net/http clears the read deadline once the request is read.
func TestStreamsOutliveReadTimeout(t *testing.T) {
	a, base := startWith(t, slog.New(slog.DiscardHandler), nil, nil, "CRM_MCP_READ_TIMEOUT", "100ms")
	a.emulators["vivre"].(*vivretest.Emulator).SetLatency(time.Second) // every call outlasts the read timeout

	sse, err := client.NewSSEMCPClient(base + "/sse")
	if err != nil {
		t.Fatal(err)
	}
	defer sse.Close()
	initialize(t, sse)
	callGetContact(t, sse)
	callGetContact(t, sse) // the stream is still there

	callGetContact(t, mcpClient(t, base, nil))
}

func TestAbsurdHeadersAreRefused(t *testing.T) {
	base := startHTTP(t)
	req, _ := http.NewRequest("GET", base+"/healthz", nil)
	req.Header.Set("X-Padding", strings.Repeat("x", 200<<10))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusRequestHeaderFieldsTooLarge {
		t.Fatalf("200 kB of headers: %d, want 431", resp.StatusCode)
	}
}

// At CRM_MCP_MAX_CONNECTIONS the server says so in the log and accepts no
// more connections until one closes.
func TestConnectionCap(t *testing.T) {
	log, logs := jsonLogs(t)
	_, base := startWith(t, log, nil, nil, "CRM_MCP_MAX_CONNECTIONS", "2")
	addr := strings.TrimPrefix(base, "http://")
	var streams []net.Conn
	for range 2 { // two SSE streams: busy connections, which the cap cannot shed
		conn, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		br := bufio.NewReader(conn)
		if _, err := io.WriteString(conn, "GET /sse HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"); err != nil {
			t.Fatal(err)
		}
		_ = conn.SetReadDeadline(time.Now().Add(30 * time.Second))
		if resp, err := http.ReadResponse(br, nil); err != nil || resp.StatusCode != 200 {
			t.Fatalf("/sse: %v %v", err, resp)
		}
		streams = append(streams, conn)
	}
	eventually(t, "no log line says the connection cap was reached", func() bool {
		return strings.Contains(logs.String(), "connection cap reached") && strings.Contains(logs.String(), `"level":"WARN"`)
	})
	served := make(chan error, 1)
	go func() {
		c := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
		resp, err := c.Get(base + "/healthz")
		if err == nil {
			resp.Body.Close()
		}
		served <- err
	}()
	select {
	case err := <-served: // with the cap in force this cannot happen, however slow the machine
		t.Fatalf("a third connection was served while two streams held the cap of 2 (%v)", err)
	case <-time.After(500 * time.Millisecond):
	}
	_ = streams[0].Close()
	select {
	case err := <-served:
		if err != nil {
			t.Fatalf("after a stream closed: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the waiting connection was not served after a slot freed")
	}
}

// At the cap, idle keep-alive connections are closed, so a flood of them
// cannot lock real callers out until the idle timeout.
func TestIdleConnectionsAreShedAtTheCap(t *testing.T) {
	_, base := startWith(t, slog.New(slog.DiscardHandler), nil, nil, "CRM_MCP_MAX_CONNECTIONS", "3")
	openSSE(t, base, nil) // a busy connection: keeps the count above half the cap throughout
	addr := strings.TrimPrefix(base, "http://")
	idle, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer idle.Close()
	br := bufio.NewReader(idle)
	rawGet(t, idle, br, "/healthz") // now an idle keep-alive connection
	third, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer third.Close()
	rawGet(t, third, bufio.NewReader(third), "/healthz") // its accept reaches the cap
	if !closedByServer(idle, br) {
		t.Fatal("at the connection cap an idle keep-alive connection was left open for 15 s")
	}
}

// tempErrListener fails its first Accept as EMFILE does (a temporary error).
type tempErrListener struct {
	net.Listener
	once sync.Once
}

type tempErr struct{}

func (tempErr) Error() string   { return "accept4: too many open files" }
func (tempErr) Timeout() bool   { return false }
func (tempErr) Temporary() bool { return true }

func (l *tempErrListener) Accept() (net.Conn, error) {
	var fail bool
	l.once.Do(func() { fail = true })
	if fail {
		return nil, tempErr{}
	}
	return l.Listener.Accept()
}

// net/http's own log lines (here: an accept error) follow LOG_FORMAT.
func TestNetHTTPErrorsGoThroughTheLogger(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	log, logs := jsonLogs(t)
	startWith(t, log, &tempErrListener{Listener: ln}, nil)
	eventually(t, "the accept error is not in the JSON log:\n"+logs.String(), func() bool {
		for _, line := range strings.Split(logs.String(), "\n") {
			if strings.Contains(line, "too many open files") && strings.Contains(line, `"level":"WARN"`) {
				return true
			}
		}
		return false
	})
}

func TestBadLimitsAreRefused(t *testing.T) {
	for _, name := range []string{"CRM_MCP_IDLE_TIMEOUT", "CRM_MCP_READ_TIMEOUT", "CRM_MCP_MAX_CONNECTIONS"} {
		zero := "0s"
		if name == "CRM_MCP_MAX_CONNECTIONS" {
			zero = "0"
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		var stderr syncBuffer
		code := run(ctx, []string{"--sandbox", "--transport", "http"}, env("CRM_MCP_ADDR", "127.0.0.1:0", name, zero), strings.NewReader(""), io.Discard, &stderr)
		cancel()
		if code == 0 || !strings.Contains(stderr.String(), name) {
			t.Errorf("%s=%s: exit %d, stderr:\n%s", name, zero, code, stderr.String())
		}
	}
}

func TestRateLimitLetsOneThroughPerPeriod(t *testing.T) {
	r := rateLimit{every: 10 * time.Second}
	t0 := time.Unix(1000, 0)
	for _, c := range []struct {
		at   time.Duration
		want bool
	}{{0, true}, {time.Second, false}, {9 * time.Second, false}, {10 * time.Second, true}, {11 * time.Second, false}} {
		if got := r.allow(t0.Add(c.at)); got != c.want {
			t.Errorf("at +%v: %v, want %v", c.at, got, c.want)
		}
	}
}
