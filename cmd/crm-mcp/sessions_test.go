package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"
)

// sseConn is a raw /sse client over loopback: it reads only when told to.
type sseConn struct {
	events   *bufio.Reader // the event stream (response body)
	endpoint string        // /message?sessionId=...
}

func openSSE(t *testing.T, base string, hdr map[string]string) *sseConn {
	t.Helper()
	conn, err := net.Dial("tcp", strings.TrimPrefix(base, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	// A small receive buffer: once this client stops reading, the server's
	// writes stall soon instead of after megabytes.
	_ = conn.(*net.TCPConn).SetReadBuffer(4 << 10)
	var req strings.Builder
	req.WriteString("GET /sse HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\n")
	for k, v := range hdr {
		fmt.Fprintf(&req, "%s: %s\r\n", k, v)
	}
	req.WriteString("\r\n")
	if _, err := io.WriteString(conn, req.String()); err != nil {
		t.Fatal(err)
	}
	_ = conn.SetReadDeadline(time.Now().Add(30 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("GET /sse: %v %v", err, resp)
	}
	s := &sseConn{events: bufio.NewReader(resp.Body)}
	for s.endpoint == "" {
		line, err := s.events.ReadString('\n')
		if err != nil {
			t.Fatalf("reading the endpoint event: %v", err)
		}
		if p, ok := strings.CutPrefix(strings.TrimSpace(line), "data: "); ok {
			s.endpoint = p
		}
	}
	return s
}

// idsUntil reads the stream's messages up to the one answering id and
// returns the ids of every response seen on the way.
func (s *sseConn) idsUntil(t *testing.T, id int) []int {
	t.Helper()
	var seen []int
	for !slices.Contains(seen, id) {
		line, err := s.events.ReadString('\n')
		if err != nil {
			t.Fatalf("reading events: %v (ids so far %v)", err, seen)
		}
		var msg struct {
			ID     *int            `json:"id"`
			Method string          `json:"method"`
			Result json.RawMessage `json:"result"`
		}
		if p, ok := strings.CutPrefix(strings.TrimSpace(line), "data:"); ok && json.Unmarshal([]byte(p), &msg) == nil && msg.ID != nil && msg.Method == "" {
			seen = append(seen, *msg.ID)
		}
	}
	return seen
}

func postMessage(t *testing.T, c *http.Client, url string, hdr map[string]string, body string) int {
	t.Helper()
	req, _ := http.NewRequest("POST", url, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("POST %s: %v", url, err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}

func initMessage(id int) string {
	return fmt.Sprintf(`{"jsonrpc":"2.0","id":%d,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"t","version":"1"}}}`, id)
}

// Another caller who learns a session id must not drive that session: its
// calls would run on its own keys and answer on the opener's stream.
func TestSSESessionIsBoundToItsOpener(t *testing.T) {
	const keyHeader = "X-Vivre-Api-Key"
	if !slices.Contains(credentialHeaders(), keyHeader) {
		t.Fatalf("%s is not a credential header: %v", keyHeader, credentialHeaders())
	}
	base := startHTTP(t, "MCP_AUTH_TOKENS", "token-a,token-b")
	opener := map[string]string{"Authorization": "Bearer token-a", keyHeader: "vv_live_tenant_a"}
	s := openSSE(t, base, opener)
	url := base + s.endpoint
	for who, hdr := range map[string]map[string]string{
		"another token":      {"Authorization": "Bearer token-b", keyHeader: "vv_live_tenant_a"},
		"another vendor key": {"Authorization": "Bearer token-a", keyHeader: "vv_live_tenant_b"},
		"no vendor key":      {"Authorization": "Bearer token-a"},
		"an additional key":  {"Authorization": "Bearer token-a", keyHeader: "vv_live_tenant_a", "X-Nexvio-Api-Key": "nx_b"},
	} {
		if code := postMessage(t, http.DefaultClient, url, hdr, initMessage(99)); code != http.StatusForbidden {
			t.Errorf("POST to token-a's session with %s: %d, want 403", who, code)
		}
	}
	if code := postMessage(t, http.DefaultClient, url, opener, initMessage(1)); code != http.StatusAccepted {
		t.Fatalf("POST by the opener: %d, want 202", code)
	}
	if ids := s.idsUntil(t, 1); slices.Contains(ids, 99) {
		t.Fatalf("a refused message was processed: responses %v", ids)
	}
	if code := postMessage(t, http.DefaultClient, base+"/message?sessionId=guessed", opener, initMessage(2)); code != http.StatusNotFound {
		t.Errorf("POST to an unknown session: %d, want 404", code)
	}
}

// An SSE client that stops reading while calls keep coming must lose its
// session, and the goroutines and responses held for it must be released.
func TestStalledSSEClientIsDropped(t *testing.T) {
	for _, tc := range []struct {
		name, reason string
		set          func(*Config)
	}{
		{"queue full", "queue is full", func(c *Config) { c.SSEQueue = 8; c.WriteTimeout = time.Hour }},
		{"write timeout", "i/o timeout", func(c *Config) { c.SSEQueue = 1 << 20; c.WriteTimeout = 300 * time.Millisecond }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			log, logs := jsonLogs(t)
			_, base := startWith(t, log, nil, tc.set, "CRM_MCP_SANDBOX_UNLIMITED", "true")
			posts := &http.Transport{}
			c := &http.Client{Transport: posts}
			baseline := runtime.NumGoroutine()
			s := openSSE(t, base, nil) // read up to the endpoint event, then never again
			url := base + s.endpoint
			if code := postMessage(t, c, url, nil, initMessage(0)); code != 202 {
				t.Fatalf("initialize: %d", code)
			}
			postMessage(t, c, url, nil, `{"jsonrpc":"2.0","method":"notifications/initialized"}`)
			posted := 0
			for dropped := false; !dropped; {
				if posted == 5000 {
					t.Fatalf("5000 posts to a session whose client reads nothing were all accepted; goroutines: %d before, %d now",
						baseline, runtime.NumGoroutine())
				}
				posted++
				switch code := postMessage(t, c, url, nil, fmt.Sprintf(`{"jsonrpc":"2.0","id":%d,"method":"tools/list"}`, posted)); code {
				case http.StatusAccepted:
				case http.StatusNotFound:
					dropped = true
				default:
					t.Fatalf("POST %d: %d", posted, code)
				}
			}
			t.Logf("dropped at post %d; goroutines: %d before, %d at the drop", posted, baseline, runtime.NumGoroutine())
			eventually(t, "no log line says why the session was dropped ("+tc.reason+")", func() bool {
				out := logs.String()
				return strings.Contains(out, "dropped an SSE session") && strings.Contains(out, tc.reason)
			})
			posts.CloseIdleConnections()
			eventually(t, fmt.Sprintf("goroutines did not return near %d", baseline), func() bool {
				return runtime.NumGoroutine() <= baseline+10
			})
		})
	}
}

// A /mcp client that sends requests and stops reading the answers loses its
// connection once a write has waited WriteTimeout; before, the handler
// stayed blocked in Write, holding a goroutine and a connection slot for as
// long as the client kept the connection open.
func TestStalledMCPClientIsDropped(t *testing.T) {
	log, logs := jsonLogs(t)
	_, base := startWith(t, log, nil, func(c *Config) { c.WriteTimeout = 300 * time.Millisecond }, "CRM_MCP_SANDBOX_UNLIMITED", "true")
	conn, err := net.Dial("tcp", strings.TrimPrefix(base, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.(*net.TCPConn).SetReadBuffer(4 << 10)
	// 400 pipelined tools/list (55 KB each): far more than the socket
	// buffers hold, so the server's writes stall while nothing is read.
	body := `{"jsonrpc":"2.0","id":1,"method":"tools/list"}`
	req := fmt.Sprintf("POST /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nAccept: application/json, text/event-stream\r\n"+
		"MCP-Protocol-Version: 2025-11-25\r\nContent-Length: %d\r\n\r\n%s", len(body), body)
	go func() { _, _ = io.WriteString(conn, strings.Repeat(req, 400)) }()
	// The server stalls, then its write deadline passes; before, nothing
	// was logged and the connection stayed.
	eventually(t, "no log line says a /mcp client was dropped", func() bool {
		return strings.Contains(logs.String(), "dropped a /mcp client")
	})
	_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	answers := 0
	br := bufio.NewReader(conn)
	for {
		resp, err := http.ReadResponse(br, nil)
		if err == nil {
			_, err = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				t.Fatalf("the connection was still open 10 s after the drop was logged (%d of 400 answers read)", answers)
			}
			break // closed by the server: what we want
		}
		answers++
	}
	if answers == 400 {
		t.Fatal("all 400 answers arrived: the server never gave up on the stalled client")
	}
	t.Logf("the server closed the connection after %d of 400 answers", answers)
}
