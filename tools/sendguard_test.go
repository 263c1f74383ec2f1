package tools

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/crm-mcp/crm-mcp/vendors"
	"github.com/crm-mcp/crm-mcp/vendors/dedupe"
	"github.com/crm-mcp/crm-mcp/vendors/emulator"
	"github.com/crm-mcp/crm-mcp/vendors/qyvo"
	"github.com/crm-mcp/crm-mcp/vendors/qyvo/qyvotest"
	"github.com/crm-mcp/crm-mcp/vendors/redistest"
)

// deployment is one crm-mcp with its own Qyvo account, using store.
func deployment(t *testing.T, token string, store dedupe.Store) (*mcpClient, *qyvotest.Server) {
	t.Helper()
	srv := qyvotest.NewServer(qyvotest.Options{RatePerMinute: -1, APIToken: token})
	t.Cleanup(srv.Close)
	cl := qyvo.New(qyvo.Config{APIToken: token, BaseURL: srv.URL}, vendors.Options{Retry: vendors.Retry{Base: time.Millisecond}})
	s := NewServer(ServerOptions{Name: "crm-mcp-test", Version: "test", Tools: Qyvo(Static(cl)), Dedupe: store})
	c, _ := connectInProcess(t, s, "", nil)
	return &mcpClient{t: t, c: c}, srv
}

var sendArgs = map[string]any{"phone": "+14155550101", "template": "order_confirmation", "language": "en", "variables": []string{"Emily", "#1042"}}

// Issue 10.4: two deployments with different Qyvo keys sharing one Redis
// each send their own message. Before, env-credential sends had one empty
// scope: B got {"duplicate":true} with A's message and B's was never sent.
func TestSendGuardScopeIsTheCredentialUsed(t *testing.T) {
	store := dedupe.NewRedis(redistest.Client(t))
	a, srvA := deployment(t, "qyvo_company_a_000000000000", store)
	b, srvB := deployment(t, "qyvo_company_b_000000000000", store)
	first := ok[qyvoSent](a, "qyvo_send_template_message", sendArgs)
	second := ok[qyvoSent](b, "qyvo_send_template_message", sendArgs)
	if first.Duplicate || second.Duplicate || srvA.Sent() != 1 || srvB.Sent() != 1 {
		t.Fatalf("A %+v (sent %d), B %+v (sent %d)", first, srvA.Sent(), second, srvB.Sent())
	}
	again := ok[qyvoSent](b, "qyvo_send_template_message", sendArgs)
	if !again.Duplicate || srvB.Sent() != 1 {
		t.Fatalf("B's repeat %+v, sent %d", again, srvB.Sent())
	}
}

// Issue 10.4: an omitted argument and its default are one send.
func TestSendGuardAppliesDefaults(t *testing.T) {
	m, srv := deployment(t, qyvotest.APIToken, dedupe.NewMemory())
	omitted := map[string]any{"phone": "+14155550101", "template": "order_confirmation", "variables": []string{"Emily", "#1042"}}
	first := ok[qyvoSent](m, "qyvo_send_template_message", omitted)
	second := ok[qyvoSent](m, "qyvo_send_template_message", sendArgs)
	if first.Duplicate || !second.Duplicate || srv.Sent() != 1 {
		t.Fatalf("first %+v, second %+v, sent %d", first, second, srv.Sent())
	}
}

// Issue 10.5: Redis dies while a send is in flight. The send succeeds, the
// shared record cannot be written; the result says so, and the identical
// retry after Redis is back (empty) is answered from this process's record
// instead of sending again.
func TestSendGuardSurvivesRedisDyingMidCall(t *testing.T) {
	rs := redistest.Own(t)
	rdb := redis.NewClient(&redis.Options{Addr: rs.Addr(), MaxRetries: -1, DialTimeout: 200 * time.Millisecond})
	t.Cleanup(func() { _ = rdb.Close() })
	m, srv := deployment(t, qyvotest.APIToken, dedupe.NewWriteThrough(dedupe.NewRedis(rdb)))
	srv.Inject(emulator.Fault{Method: "POST", Path: "/actions/send-template-message", Delay: 300 * time.Millisecond})
	go func() { // kill Redis once the send has reached the vendor
		for srv.Hits("POST /actions/send-template-message") == 0 {
			time.Sleep(5 * time.Millisecond)
		}
		rs.Stop()
	}()
	res := m.call("qyvo_send_template_message", sendArgs)
	if res.IsError || srv.Sent() != 1 {
		t.Fatalf("send: %s (sent %d)", text(t, res), srv.Sent())
	}
	var first struct {
		GuardWarning string `json:"guard_warning"`
	}
	raw, _ := json.Marshal(res.StructuredContent)
	_ = json.Unmarshal(raw, &first)
	if !strings.Contains(first.GuardWarning, "could not record") {
		t.Fatalf("the result does not report the lost record: %s", raw)
	}
	rs.Start()
	again := ok[qyvoSent](m, "qyvo_send_template_message", sendArgs)
	if !again.Duplicate || srv.Sent() != 1 {
		t.Fatalf("retry after Redis came back: %+v, sent %d", again, srv.Sent())
	}
}

// Issue 10.2: a send whose outcome is unknown keeps its claim: the agent's
// retry is not sent again.
func TestSendGuardKeepsTheClaimWhenInDoubt(t *testing.T) {
	m, srv := deployment(t, qyvotest.APIToken, dedupe.NewMemory())
	srv.Inject(emulator.Fault{Method: "POST", Path: "/actions/send-template-message", Status: 502, AfterHandling: true})
	body := m.fails("qyvo_send_template_message", sendArgs)
	if body.Kind != vendors.KindUncertain {
		t.Fatalf("kind %s: %s", body.Kind, body.Error)
	}
	res := m.call("qyvo_send_template_message", sendArgs)
	if srv.Sent() != 1 || !strings.Contains(text(t, res), "not sent again") {
		t.Fatalf("retry: %s (sent %d)", text(t, res), srv.Sent())
	}
}
