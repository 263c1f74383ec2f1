package main

// Sends a person confirms, end to end: mcp-go's own clients over stdio and
// over /mcp at 2025-06-18, 2025-11-25 and 2026-07-28, the sandbox's Qyvo
// emulator counting what was really sent.

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mark3labs/mcp-go/client"
	"github.com/mark3labs/mcp-go/client/transport"
	"github.com/mark3labs/mcp-go/mcp"

	"github.com/crm-mcp/crm-mcp/tools"
	"github.com/crm-mcp/crm-mcp/vendors/qyvo/qyvotest"
	"github.com/crm-mcp/crm-mcp/vendors/redistest"
)

var revisions = []string{mcp.ProtocolVersion20250618, mcp.ProtocolVersion20251125, mcp.ProtocolVersion20260728}

// person answers every question with action (confirm ticked on accept)
// and remembers the questions.
type person struct {
	action mcp.ElicitationResponseAction
	mu     sync.Mutex
	asked  []string
}

func (p *person) Elicit(_ context.Context, r mcp.ElicitationRequest) (*mcp.ElicitationResult, error) {
	p.mu.Lock()
	p.asked = append(p.asked, r.Params.Message)
	p.mu.Unlock()
	res := &mcp.ElicitationResult{ElicitationResponse: mcp.ElicitationResponse{Action: p.action}}
	if p.action == mcp.ElicitationResponseActionAccept {
		res.Content = map[string]any{"confirm": true}
	}
	return res, nil
}

func (p *person) questions() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string{}, p.asked...)
}

var emily = map[string]any{"phone": "+14155550101", "template": "order_confirmation", "variables": []string{"Emily", "#1042"}}

// sent is how many WhatsApp messages the sandbox's Qyvo emulator sent.
func sent(a *app) int { return a.emulators["qyvo"].(*qyvotest.Emulator).Sent() }

// connect starts and initializes a client of one revision on tr.
func connect(t *testing.T, tr transport.Interface, version string, p *person) *client.Client {
	t.Helper()
	opts := []client.ClientOption{client.WithProtocolVersion(version)}
	if p != nil {
		opts = append(opts, client.WithElicitationHandler(p))
	}
	c := client.NewClient(tr, opts...)
	t.Cleanup(func() { _ = c.Close() })
	initializeAt(t, c, version)
	if c.ProtocolVersion() != version {
		t.Fatalf("negotiated %s, want %s", c.ProtocolVersion(), version)
	}
	return c
}

// sendEmily sends the order confirmation and decodes the result.
func sendEmily(t *testing.T, c *client.Client) map[string]any {
	t.Helper()
	req := mcp.CallToolRequest{}
	req.Params.Name, req.Params.Arguments = "qyvo_send_template_message", emily
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	res, err := c.CallTool(ctx, req)
	if err != nil {
		t.Fatalf("call: %v", err)
	}
	if res.IsError {
		t.Fatalf("call failed: %s", resultText(res))
	}
	var out map[string]any
	if err := json.Unmarshal([]byte(resultText(res)), &out); err != nil {
		t.Fatal(err)
	}
	return out
}

// checkConfirmed: accepted, the question was asked once and showed the
// recipient and the text, and one message went out; declined, nothing did.
func checkConfirmed(t *testing.T, action mcp.ElicitationResponseAction, p *person, out map[string]any, sent int) {
	t.Helper()
	qs := p.questions()
	if len(qs) != 1 || !strings.Contains(qs[0], "Emily Carter, +14155550101") || !strings.Contains(qs[0], "Hi Emily, your order #1042 is confirmed.") {
		t.Fatalf("questions: %q (result %v, sent %d)", qs, out, sent)
	}
	switch action {
	case mcp.ElicitationResponseActionAccept:
		if sent != 1 || out["declined"] != nil || out["status"] == nil {
			t.Fatalf("accepted: sent %d, result %v", sent, out)
		}
	default:
		if sent != 0 || out["declined"] != true {
			t.Fatalf("%s: sent %d, result %v", action, sent, out)
		}
	}
}

// stdioClient serves a sandbox app on pipes and connects mcp-go's stdio
// client of one revision to it.
func stdioClient(t *testing.T, version string, p *person, kv ...string) (*app, *client.Client) {
	t.Helper()
	cfg, l := testConfig(t, append([]string{"CRM_MCP_SANDBOX", "true", "CRM_MCP_TRANSPORT", "stdio"}, kv...)...)
	a, err := build(context.Background(), cfg, l, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(a.close) // the event log and the poller, once the pipes and the client are closed
	inW, outR := stdioPipes(t, a)
	return a, connect(t, transport.NewIO(outR, inW, io.NopCloser(strings.NewReader(""))), version, p)
}

func TestConfirmOverStdio(t *testing.T) {
	for _, v := range revisions {
		for _, action := range []mcp.ElicitationResponseAction{mcp.ElicitationResponseActionAccept, mcp.ElicitationResponseActionDecline} {
			t.Run(v+"/"+string(action), func(t *testing.T) {
				p := &person{action: action}
				a, c := stdioClient(t, v, p)
				checkConfirmed(t, action, p, sendEmily(t, c), sent(a))
			})
		}
	}
}

func httpClient(t *testing.T, base, version string, p *person) *client.Client {
	t.Helper()
	tr, err := transport.NewStreamableHTTP(base + "/mcp")
	if err != nil {
		t.Fatal(err)
	}
	return connect(t, tr, version, p)
}

// Over stateless /mcp, a 2025-x client that declared elicitation gets the
// question on its call's SSE stream and its answer is routed back; a
// 2026-07-28 client retries the call with it.
func TestConfirmOverStreamableHTTP(t *testing.T) {
	for _, v := range revisions {
		for _, action := range []mcp.ElicitationResponseAction{mcp.ElicitationResponseActionAccept, mcp.ElicitationResponseActionDecline} {
			t.Run(v+"/"+string(action), func(t *testing.T) {
				a, base := startApp(t, slog.New(slog.DiscardHandler), "CRM_MCP_SANDBOX", "true")
				p := &person{action: action}
				checkConfirmed(t, action, p, sendEmily(t, httpClient(t, base, v, p)), sent(a))
			})
		}
	}
}

// Two replicas sharing Redis behind a balancer that alternates requests:
// the question is put by one, the answer (a 2025-x client's POST, or a
// 2026-07-28 client's retry) lands on the other, and exactly one message
// goes out.
func TestConfirmAcrossReplicas(t *testing.T) {
	for _, v := range []string{mcp.ProtocolVersion20250618, mcp.ProtocolVersion20260728} {
		t.Run(v, func(t *testing.T) {
			redisURL := redistest.URL(t) // a database of its own: the send is not a duplicate of the other run's
			var apps []*app
			var backends []*url.URL
			for range 2 {
				a, base := startApp(t, slog.New(slog.DiscardHandler), "CRM_MCP_SANDBOX", "true", "REDIS_URL", redisURL)
				u, _ := url.Parse(base)
				apps, backends = append(apps, a), append(backends, u)
			}
			var n atomic.Int64
			front := startFront(t, alternating(backends, &n))
			p := &person{action: mcp.ElicitationResponseActionAccept}
			checkConfirmed(t, p.action, p, sendEmily(t, httpClient(t, front, v, p)), sent(apps[0])+sent(apps[1]))
		})
	}
}

// always: a client that cannot elicit is refused with an error naming the
// setting, over stdio and /mcp, whatever its revision; nothing is sent.
func TestConfirmAlwaysRefusesClientsThatCannotAsk(t *testing.T) {
	a, base := startApp(t, slog.New(slog.DiscardHandler), "CRM_MCP_SANDBOX", "true", "CRM_MCP_CONFIRM_SENDS", "always")
	for _, v := range revisions {
		sa, sc := stdioClient(t, v, nil, "CRM_MCP_CONFIRM_SENDS", "always")
		for name, c := range map[string]*client.Client{"http": httpClient(t, base, v, nil), "stdio": sc} {
			req := mcp.CallToolRequest{}
			req.Params.Name, req.Params.Arguments = "qyvo_send_template_message", emily
			res, err := c.CallTool(context.Background(), req)
			if err != nil || !res.IsError || !strings.Contains(resultText(res), "CRM_MCP_CONFIRM_SENDS=always") {
				t.Fatalf("%s %s: %v %s", name, v, err, resultText(res))
			}
		}
		if sent(sa) != 0 {
			t.Fatalf("stdio %s: sent %d", v, sent(sa))
		}
	}
	if sent(a) != 0 {
		t.Fatalf("http: sent %d", sent(a))
	}
}

// The wire, by hand: initialize declaring elicitation gets a session id
// that records it; the call's response becomes an SSE stream carrying the
// question; another caller's answer is refused; the caller's own is taken
// (202) and the call's result follows on the same stream. GET and DELETE
// are 405.
func TestConfirmWireOverMCP(t *testing.T) {
	a, base := startApp(t, slog.New(slog.DiscardHandler), "CRM_MCP_SANDBOX", "true", "MCP_AUTH_TOKENS", "token-a-0123456789abcdef,token-b-0123456789abcdef")
	post := func(token, sid, body string) *http.Response {
		t.Helper()
		req, _ := http.NewRequest("POST", base+"/mcp", strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Accept", "application/json, text/event-stream")
		req.Header.Set("MCP-Protocol-Version", "2025-06-18")
		req.Header.Set("Authorization", "Bearer "+token)
		if sid != "" {
			req.Header.Set("Mcp-Session-Id", sid)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		return resp
	}
	resp := post("token-a-0123456789abcdef", "", `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{"elicitation":{}},"clientInfo":{"name":"t","version":"1"}}}`)
	resp.Body.Close()
	sid := resp.Header.Get("Mcp-Session-Id")
	if !strings.HasPrefix(sid, elicitMarker) {
		t.Fatalf("session id %q", sid)
	}
	call := post("token-a-0123456789abcdef", sid, `{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"qyvo_send_template_message","arguments":{"phone":"+14155550101","template":"order_confirmation","variables":["Emily","#1042"]}}}`)
	defer call.Body.Close()
	if ct := call.Header.Get("Content-Type"); call.StatusCode != 200 || !strings.HasPrefix(ct, "text/event-stream") {
		t.Fatalf("call: %d %s", call.StatusCode, ct)
	}
	events := bufio.NewScanner(call.Body)
	next := func() map[string]any {
		t.Helper()
		for events.Scan() {
			if data, ok := strings.CutPrefix(events.Text(), "data: "); ok {
				var m map[string]any
				if err := json.Unmarshal([]byte(data), &m); err != nil {
					t.Fatal(err)
				}
				return m
			}
		}
		t.Fatal("the stream ended")
		return nil
	}
	q := next()
	id, _ := q["id"].(string)
	if q["method"] != "elicitation/create" || !strings.HasPrefix(id, questionPrefix) {
		t.Fatalf("question: %v", q)
	}
	answer := `{"jsonrpc":"2.0","id":"` + id + `","result":{"action":"accept","content":{"confirm":true}}}`
	if r := post("token-b-0123456789abcdef", sid, answer); r.StatusCode != 400 {
		t.Fatalf("another caller's answer: %d", r.StatusCode)
	}
	if r := post("token-a-0123456789abcdef", "", answer); r.StatusCode != 202 {
		t.Fatalf("the caller's answer: %d", r.StatusCode)
	}
	if res := next(); res["id"] != float64(2) || strings.Contains(string(mustJSON(res)), `"isError":true`) || sent(a) != 1 {
		t.Fatalf("result %v, sent %d", res, sent(a))
	}
	if r := post("token-a-0123456789abcdef", "", answer); r.StatusCode != 400 {
		t.Fatalf("a second answer: %d", r.StatusCode)
	}
	for _, m := range []string{"GET", "DELETE"} {
		req, _ := http.NewRequest(m, base+"/mcp", nil)
		req.Header.Set("Authorization", "Bearer token-a-0123456789abcdef")
		req.Header.Set("Accept", "text/event-stream")
		r, err := http.DefaultClient.Do(req)
		if err != nil || r.StatusCode != 405 {
			t.Fatalf("%s /mcp: %v %v", m, err, r)
		}
		r.Body.Close()
	}
}

func mustJSON(v any) []byte { b, _ := json.Marshal(v); return b }

// A bad CRM_MCP_CONFIRM_SENDS stops the server with a message naming it.
func TestConfirmPolicyIsChecked(t *testing.T) {
	cfg, _ := testConfig(t, "CRM_MCP_CONFIRM_SENDS", "sometimes")
	var stderr strings.Builder
	if _, err := parseFlags(&cfg, nil, &stderr); err == nil || !strings.Contains(stderr.String(), "CRM_MCP_CONFIRM_SENDS (--confirm-sends)") {
		t.Fatalf("%v %s", err, stderr.String())
	}
	cfg, _ = testConfig(t)
	if _, err := parseFlags(&cfg, []string{"--confirm-sends", "ALWAYS"}, io.Discard); err != nil || tools.ConfirmPolicy(cfg.ConfirmSends) != tools.ConfirmAlways {
		t.Fatalf("%v %q", err, cfg.ConfirmSends)
	}
}

// Legacy SSE (/sse + /message): mcp-go's SSE sessions cannot put a
// question, so the app puts it on the session's stream and takes the
// answer from /message. (mcp-go's SSE client takes no server requests:
// the wire, by hand.)
func TestConfirmOverLegacySSE(t *testing.T) {
	for _, action := range []string{"accept", "decline"} {
		a, base := startApp(t, slog.New(slog.DiscardHandler), "CRM_MCP_SANDBOX", "true")
		resp, err := http.Get(base + "/sse")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		events := bufio.NewScanner(resp.Body)
		next := func() string {
			t.Helper()
			for events.Scan() {
				if data, ok := strings.CutPrefix(events.Text(), "data: "); ok {
					return data
				}
			}
			t.Fatal("the stream ended")
			return ""
		}
		endpoint := next()
		post := func(body string) {
			t.Helper()
			r, err := http.Post(base+endpoint, "application/json", strings.NewReader(body))
			if err != nil || r.StatusCode/100 != 2 {
				t.Fatalf("POST %s: %v %v", body, err, r)
			}
			r.Body.Close()
		}
		post(`{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{"elicitation":{}},"clientInfo":{"name":"t","version":"1"}}}`)
		next()
		post(`{"jsonrpc":"2.0","method":"notifications/initialized"}`)
		post(`{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"qyvo_send_template_message","arguments":{"phone":"+14155550101","template":"order_confirmation","variables":["Emily","#1042"]}}}`)
		var q struct {
			ID     string `json:"id"`
			Method string `json:"method"`
			Params struct {
				Message string `json:"message"`
			} `json:"params"`
		}
		if err := json.Unmarshal([]byte(next()), &q); err != nil || q.Method != "elicitation/create" || !strings.Contains(q.Params.Message, "Hi Emily, your order #1042") {
			t.Fatalf("question: %v %+v", err, q)
		}
		post(`{"jsonrpc":"2.0","id":"` + q.ID + `","result":{"action":"` + action + `","content":{"confirm":true}}}`)
		result := next()
		want := map[string]int{"accept": 1, "decline": 0}[action]
		if !strings.Contains(result, `"id":2`) || sent(a) != want || (action == "decline") != strings.Contains(result, `\"declined\":true`) {
			t.Fatalf("%s: result %s, sent %d", action, result, sent(a))
		}
	}
}
