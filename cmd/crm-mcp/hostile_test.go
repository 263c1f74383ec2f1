package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"
	"testing"

	"github.com/mark3labs/mcp-go/client"
	"github.com/mark3labs/mcp-go/mcp"

	"github.com/crm-mcp/crm-mcp/vendors/emulator"
	"github.com/crm-mcp/crm-mcp/vendors/qyvo/qyvotest"
)

func callTool(t *testing.T, c *client.Client, name string, args map[string]any) *mcp.CallToolResult {
	t.Helper()
	req := mcp.CallToolRequest{}
	req.Params.Name, req.Params.Arguments = name, args
	res, err := c.CallTool(context.Background(), req)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return res
}

func resultText(res *mcp.CallToolResult) string {
	if len(res.Content) == 0 {
		return ""
	}
	tc, _ := res.Content[0].(mcp.TextContent)
	return tc.Text
}

// Issue 10.3: callers cannot switch redaction off or turn it on words of
// their choice. Before, every credential header of every request joined one
// global set: a flood wiped it (the env key then showed in tool errors), and
// header values such as "vivre_get_contact" or `"outcome":"ok"` rewrote
// other callers' log lines, into invalid JSON.
func TestCallersCannotSteerRedaction(t *testing.T) {
	const envKey = "vv_live_ENVKEY_0123456789"
	vendor, base, logs := vivreWithKey(t, envKey, "CRM_MCP_CLIENT_CREDENTIALS", "true")

	for i := range 300 { // a flood of made-up keys
		status(t, "POST", base+"/mcp", map[string]string{"X-Qyvo-Api-Token": fmt.Sprintf("flood-key-%06d", i)})
	}
	callGetContact(t, mcpClient(t, base, map[string]string{"X-Qyvo-Api-Token": `"outcome":"ok"`, "X-Ralivi-Api-Key": "vivre_get_contact"}))

	other := mcpClient(t, base, nil)
	callGetContact(t, other)
	vendor.Inject(emulator.Fault{Status: 401, Body: `{"error":"unauthorized","message":"key ` + envKey + ` was revoked"}`})
	res := callTool(t, other, "vivre_get_contact", map[string]any{"id": "cnt_8800"})
	if txt := resultText(res); !res.IsError || strings.Contains(txt, envKey) || !strings.Contains(txt, "[redacted]") {
		t.Fatalf("after the flood, the env key is not masked: %s", txt)
	}

	clean := 0
	sc := bufio.NewScanner(strings.NewReader(logs.String()))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		line := sc.Bytes()
		if !json.Valid(line) {
			t.Fatalf("a log line is not valid JSON: %s", line)
		}
		if strings.Contains(string(line), envKey) {
			t.Fatalf("the env key is in the logs: %s", line)
		}
		var l struct{ Msg, Tool, Outcome string }
		_ = json.Unmarshal(line, &l)
		if l.Msg == "tool call" && l.Tool == "vivre_get_contact" && l.Outcome == "ok" {
			clean++
		}
	}
	if clean == 0 {
		t.Fatalf("another caller's header values masked this caller's log lines:\n%s", logs.String())
	}
}

// Issue 10.4: the duplicate guard's scope is the credential used. Before,
// it was every credential header present: the same Qyvo token with a
// changing X-Ralivi-Api-Key sent the same message 3 times.
func TestSendScopeIgnoresUnusedHeaders(t *testing.T) {
	vendor := qyvotest.NewServer(qyvotest.Options{RatePerMinute: -1})
	defer vendor.Close()
	_, base := startApp(t, slog.New(slog.DiscardHandler), "CRM_MCP_CLIENT_CREDENTIALS", "true", "QYVO_BASE_URL", vendor.URL)
	args := map[string]any{"phone": "+14155550101", "template": "order_confirmation", "variables": []string{"Emily", "#1042"}}
	for i := range 3 {
		c := mcpClient(t, base, map[string]string{"X-Qyvo-Api-Token": qyvotest.APIToken, "X-Ralivi-Api-Key": fmt.Sprintf("ralivi-key-%04d", i)})
		if res := callTool(t, c, "qyvo_send_template_message", args); res.IsError {
			t.Fatalf("send %d: %s", i, resultText(res))
		}
	}
	if n := vendor.Sent(); n != 1 {
		t.Fatalf("one message was sent %d times", n)
	}
}

// Issue 10 (hostile vendor): a vendor that echoes our key back in a
// successful answer does not hand it to the caller, in the text or in the
// structured result, nor to the logs.
func TestEchoedKeyNeverReachesTheCaller(t *testing.T) {
	const envKey = "vv_live_ECHOED_0123456789"
	vendor, base, logs := vivreWithKey(t, envKey)
	c := mcpClient(t, base, nil)
	vendor.Inject(emulator.Fault{EchoCredentials: true, Body: `{"data":{"id":"cnt_8800","name":"` + emulator.Echo + `"}}`})
	res := callTool(t, c, "vivre_get_contact", map[string]any{"id": "cnt_8800"})
	structured, _ := json.Marshal(res.StructuredContent)
	if res.IsError || !json.Valid(structured) {
		t.Fatalf("result: %s", resultText(res))
	}
	for what, out := range map[string]string{"text": resultText(res), "structured content": string(structured), "logs": logs.String()} {
		if strings.Contains(out, envKey) {
			t.Fatalf("the echoed key reached the %s: %s", what, out)
		}
	}
	if !strings.Contains(resultText(res), "[redacted]") {
		t.Fatalf("the echo was not masked: %s", resultText(res))
	}
}

// Issue 10.10: a REDIS_URL password never reaches the logs, and go-redis's
// own log lines go through slog (valid JSON with LOG_FORMAT=json), not raw
// to stderr.
func TestRedisPasswordAndRedisLogs(t *testing.T) {
	const password = "s3cret-redis-passw0rd"
	var stderr syncBuffer
	code := run(context.Background(), nil, env("CRM_MCP_SANDBOX", "true", "LOG_FORMAT", "json",
		"REDIS_URL", "redis://:"+password+"@"+closedAddr(t)+"/0"), strings.NewReader(""), io.Discard, &stderr)
	if code == 0 {
		t.Fatal("started with an unreachable Redis")
	}
	out := stderr.String()
	if strings.Contains(out, password) {
		t.Fatalf("the Redis password is in the logs:\n%s", out)
	}
	if !strings.Contains(out, "REDIS_URL") {
		t.Fatalf("the error does not name REDIS_URL:\n%s", out)
	}
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		if !json.Valid([]byte(line)) {
			t.Fatalf("a log line is not JSON: %s", line)
		}
	}
}

// closedAddr is a loopback address nothing listens on.
func closedAddr(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// Issue 11, papercut 9: JSON log lines carry durations as numbers with
// their unit in the key (before: "duration":243062, nanoseconds unsaid).
func TestLogDurationsSayTheirUnit(t *testing.T) {
	var logs syncBuffer
	log, _ := newLogger("info", "json", &logs)
	_, base := startApp(t, log, "CRM_MCP_SANDBOX", "true")
	callGetContact(t, mcpClient(t, base, nil))
	for _, line := range strings.Split(strings.TrimSpace(logs.String()), "\n") {
		var l map[string]any
		_ = json.Unmarshal([]byte(line), &l)
		if l["msg"] != "tool call" {
			continue
		}
		if _, ok := l["duration"]; ok {
			t.Fatalf("a duration without its unit: %s", line)
		}
		if _, ok := l["duration_ms"].(float64); !ok {
			t.Fatalf("no duration_ms number: %s", line)
		}
		return
	}
	t.Fatalf("no tool call line:\n%s", logs.String())
}
