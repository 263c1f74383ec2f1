package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/crm-mcp/crm-mcp/vendors/qyvo/qyvotest"
	"github.com/crm-mcp/crm-mcp/vendors/redistest"
	"github.com/mark3labs/mcp-go/mcp"
)

// /mcp keeps no session state on any protocol revision: no Mcp-Session-Id
// is issued, and a request without one is served (issue 12: before, 2025-x
// initialize issued an id and an id was still accepted after DELETE).
func TestMCPIsStateless(t *testing.T) {
	base := startHTTP(t)
	for _, version := range []string{"2025-06-18", "2025-11-25"} {
		body := `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"` + version + `","capabilities":{},"clientInfo":{"name":"t","version":"1"}}}`
		resp, raw := postMCP(t, base+"/mcp", body, nil)
		if resp.StatusCode != 200 {
			t.Fatalf("%s initialize: %d %s", version, resp.StatusCode, raw)
		}
		if id := resp.Header.Get("Mcp-Session-Id"); id != "" {
			t.Fatalf("%s: a session id was issued: %q", version, id)
		}
		resp, raw = postMCP(t, base+"/mcp", `{"jsonrpc":"2.0","id":2,"method":"tools/list"}`, http.Header{"MCP-Protocol-Version": {version}})
		if resp.StatusCode != 200 {
			t.Fatalf("%s tools/list without a session: %d %s", version, resp.StatusCode, raw)
		}
	}
}

// Two replicas behind a balancer that alternates every request serve one
// client through initialize, listing and a call: no sticky sessions.
func TestTwoReplicasAlternating(t *testing.T) {
	backends := []*url.URL{}
	for range 2 {
		u, _ := url.Parse(startHTTP(t))
		backends = append(backends, u)
	}
	var n atomic.Int64
	front := startFront(t, alternating(backends, &n))
	c := mcpClient(t, front, nil)
	for range 4 {
		if len(toolNames(t, c)) < 40 {
			t.Fatal("tools/list through the balancer")
		}
		callGetContact(t, c)
	}
	if n.Load() < 8 {
		t.Fatalf("the balancer saw %d requests", n.Load())
	}
}

// alternating is a balancer that sends each request to the next of
// backends (n counts them), streaming responses as they come. Like a real
// balancer it reads a request's body before forwarding it: handing
// net/http's server body straight to the proxy's transport races with the
// server, which closes the body as soon as the response starts (the
// backend has answered) while the transport's writeLoop may still be
// about to read its end, and that read error makes the transport close
// the backend connection in the middle of the response ("ReverseProxy
// read error during body copy: use of closed network connection", and the
// client sees a truncated JSON body or SSE stream).
func alternating(backends []*url.URL, n *atomic.Int64) http.Handler {
	rp := &httputil.ReverseProxy{Rewrite: func(r *httputil.ProxyRequest) {
		b := backends[n.Add(1)%int64(len(backends))]
		r.SetURL(b)
		r.Out.Host = b.Host
	}, FlushInterval: -1}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		rp.ServeHTTP(w, r)
	})
}

// startFront serves h on a loopback port until the test ends.
func startFront(t *testing.T, h http.Handler) string {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv.URL
}

// Two real server processes sharing one Redis and one Qyvo account, behind
// a balancer that alternates every request, serve one /mcp client through
// every feature: listing (with output schemas), a call, resources, a
// completion, a prompt, and a send the person confirms (one goes out) and
// one they decline (none does), on 2025-06-18 and 2026-07-28.
func TestTwoServerProcessesServeEveryFeature(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs two server processes")
	}
	bin := buildServer(t)
	for _, v := range []string{mcp.ProtocolVersion20250618, mcp.ProtocolVersion20260728} {
		t.Run(v, func(t *testing.T) {
			redisURL := redistest.URL(t)
			vendor := qyvotest.NewServer(qyvotest.Options{RatePerMinute: -1})
			defer vendor.Close()
			var backends []*url.URL
			for range 2 {
				_, base := spawnServer(t, bin, nil, []string{"REDIS_URL=" + redisURL, "QYVO_API_TOKEN=" + qyvotest.APIToken, "QYVO_BASE_URL=" + vendor.URL, "LOG_LEVEL=warn"})
				u, _ := url.Parse(base)
				backends = append(backends, u)
			}
			var n atomic.Int64
			front := startFront(t, alternating(backends, &n))
			ctx := context.Background()
			p := &person{action: mcp.ElicitationResponseActionAccept}
			c := httpClient(t, front, v, p)
			tl, err := c.ListTools(ctx, mcp.ListToolsRequest{})
			if err != nil || len(tl.Tools) < 10 || tl.Tools[0].OutputSchema.Type != "object" {
				t.Fatalf("tools/list: %v", err)
			}
			if res := callTool(t, c, "qyvo_list_templates", nil); res.IsError {
				t.Fatalf("qyvo_list_templates: %s", resultText(res))
			}
			rr := mcp.ReadResourceRequest{}
			rr.Params.URI = "qyvo://templates"
			if res, err := c.ReadResource(ctx, rr); err != nil || len(res.Contents) != 1 {
				t.Fatalf("resources/read qyvo://templates: %v", err)
			}
			cr := mcp.CompleteRequest{}
			cr.Params.Ref = mcp.ResourceReference{Type: "ref/resource", URI: "qyvo://contacts/{id}"}
			cr.Params.Argument.Name, cr.Params.Argument.Value = "id", "emi"
			if res, err := c.Complete(ctx, cr); err != nil || len(res.Completion.Values) == 0 {
				t.Fatalf("completion/complete: %v %+v", err, res)
			}
			gp := mcp.GetPromptRequest{}
			gp.Params.Name, gp.Params.Arguments = "whatsapp_follow_up", map[string]string{"contact": "Emily Carter", "goal": "confirm the delivery date"}
			if _, err := c.GetPrompt(ctx, gp); err != nil {
				t.Fatalf("prompts/get: %v", err)
			}
			checkConfirmed(t, p.action, p, sendEmily(t, c), vendor.Sent())
			declined := &person{action: mcp.ElicitationResponseActionDecline}
			d := httpClient(t, front, v, declined)
			req := mcp.CallToolRequest{}
			req.Params.Name = "qyvo_send_template_message"
			req.Params.Arguments = map[string]any{"phone": "+14155550101", "template": "order_confirmation", "variables": []string{"Emily", "#1043"}}
			if res, err := d.CallTool(ctx, req); err != nil || res.IsError {
				t.Fatalf("declined send: %v %+v", err, res)
			}
			if vendor.Sent() != 1 || n.Load() < 8 {
				t.Fatalf("sent %d (want the accepted one only); the balancer saw %d requests", vendor.Sent(), n.Load())
			}
		})
	}
}

// subscriptions/listen's first message is its acknowledgement, also when
// nothing the client asked for can be established and the stream ends at
// once (CI: the conformance suite's sep-2575-server-sends-subscription-ack
// got the result first; mcp-go v1.2.1's /mcp writer dropped the
// acknowledgement when the result overtook it, 76 of 300 times on 2 cores).
func TestListenAcknowledgesFirst(t *testing.T) {
	base := startHTTP(t)
	filters := []string{`{"toolsListChanged":true}`, `{"promptsListChanged":true}`, `{"resourceSubscriptions":["nosuch://x"]}`, `{}`}
	const n = 400
	var wg sync.WaitGroup
	var bad atomic.Int64
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < n; i += 4 {
				filter := filters[i%len(filters)]
				body := fmt.Sprintf(`{"jsonrpc":"2.0","id":%d,"method":"subscriptions/listen","params":{"_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientCapabilities":{}},"notifications":%s}}`, i, filter)
				req, _ := http.NewRequest("POST", base+"/mcp", strings.NewReader(body))
				req.Header.Set("Content-Type", "application/json")
				req.Header.Set("Accept", "application/json, text/event-stream")
				req.Header.Set("MCP-Protocol-Version", "2026-07-28")
				req.Header.Set("Mcp-Method", "subscriptions/listen")
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					t.Error(err)
					return
				}
				raw, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				frames := messagesOf(raw)
				ok := len(frames) == 2 && frames[0]["method"] == "notifications/subscriptions/acknowledged" && frames[1]["result"] != nil
				if !ok && bad.Add(1) <= 3 {
					t.Errorf("listen %s (id %d): %d %s", filter, i, resp.StatusCode, raw)
				}
			}
		}()
	}
	wg.Wait()
	if b := bad.Load(); b > 0 {
		t.Fatalf("%d of %d listen streams did not begin with the acknowledgement", b, n)
	}
}

// messagesOf is the JSON-RPC messages of a /mcp response, JSON or SSE.
func messagesOf(raw []byte) []map[string]any {
	var msgs []map[string]any
	for _, line := range strings.Split(string(raw), "\n") {
		var m map[string]any
		if json.Unmarshal([]byte(strings.TrimPrefix(line, "data: ")), &m) == nil {
			msgs = append(msgs, m)
		}
	}
	return msgs
}

// Every progress notification of crm_search_contacts comes before its
// result over /mcp and /sse too, as over stdio (TestStdioProgressPrecedesTheResult).
// Before, mcp-go's /mcp writer dropped the last one when the result
// overtook it (37 of 100 calls on 2 cores).
func TestHTTPProgressPrecedesTheResult(t *testing.T) {
	base := startHTTP(t, "CRM_MCP_SANDBOX_UNLIMITED", "true")
	const calls = 60
	check := func(t *testing.T, i int, msgs []map[string]any) {
		t.Helper()
		progress := 0
		for _, m := range msgs {
			if m["method"] == "notifications/progress" {
				progress++
			} else if m["result"] != nil {
				break
			}
		}
		if progress != 5 {
			t.Errorf("call %d: %d progress notifications before the result, want 5: %v", i, progress, msgs)
		}
	}
	for _, version := range []string{"2025-11-25", "2026-07-28"} {
		t.Run("/mcp at "+version, func(t *testing.T) {
			for i := range calls {
				meta := fmt.Sprintf(`"progressToken":"p%d"`, i)
				if version == "2026-07-28" {
					meta += `,"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientCapabilities":{}`
				}
				body := fmt.Sprintf(`{"jsonrpc":"2.0","id":%d,"method":"tools/call","params":{"name":"crm_search_contacts","arguments":{"query":"emily"},"_meta":{%s}}}`, i, meta)
				_, raw := postMCP(t, base+"/mcp", body, http.Header{
					"MCP-Protocol-Version": {version}, "Mcp-Method": {"tools/call"}, "Mcp-Name": {"crm_search_contacts"}})
				check(t, i, messagesOf(raw))
				if t.Failed() {
					return
				}
			}
		})
	}
	t.Run("/sse", func(t *testing.T) {
		s := openSSE(t, base, nil)
		if code := postMessage(t, http.DefaultClient, base+s.endpoint, nil, initMessage(1000)); code != 202 {
			t.Fatalf("initialize: %d", code)
		}
		s.idsUntil(t, 1000)
		for i := range calls {
			postMessage(t, http.DefaultClient, base+s.endpoint, nil, fmt.Sprintf(`{"jsonrpc":"2.0","id":%d,"method":"tools/call","params":{"name":"crm_search_contacts","arguments":{"query":"emily"},"_meta":{"progressToken":"p%d"}}}`, i, i))
			var msgs []map[string]any
			for {
				line, err := s.events.ReadString('\n')
				if err != nil {
					t.Fatalf("reading events: %v", err)
				}
				var m map[string]any
				if p, ok := strings.CutPrefix(strings.TrimSpace(line), "data:"); ok && json.Unmarshal([]byte(p), &m) == nil {
					msgs = append(msgs, m)
					if m["result"] != nil {
						break
					}
				}
			}
			check(t, i, msgs)
			if t.Failed() {
				return
			}
		}
	})
}
