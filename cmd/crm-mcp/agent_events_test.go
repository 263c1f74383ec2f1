package main

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mark3labs/mcp-go/client"
	"github.com/mark3labs/mcp-go/mcp"

	"github.com/crm-mcp/crm-mcp/vendors/qyvo/qyvotest"
	"github.com/crm-mcp/crm-mcp/vendors/redistest"
	"github.com/crm-mcp/crm-mcp/vendors/vivre/vivretest"
)

// The agent's side of vendor events, end to end: tools change records in
// the sandbox, the emulators send signed webhooks to the app's receivers
// (Qyvo's recipients reply, and the poller reads the reply), and agents
// read the log through crm_list_events, events:// resources and their
// subscriptions.

// agentEvent is one event as crm_list_events returns it.
type agentEvent struct {
	ID         string          `json:"id"`
	Vendor     string          `json:"vendor"`
	Type       string          `json:"type"`
	RecordKind string          `json:"record_kind"`
	RecordID   string          `json:"record_id"`
	RecordURI  string          `json:"record_uri"`
	Payload    json.RawMessage `json:"payload"`
}

type agentEventsPage struct {
	Events     []agentEvent `json:"events"`
	NextCursor string       `json:"next_cursor"`
	NextPollMS int          `json:"next_poll_ms"`
}

// listAgentEvents calls crm_list_events, which must succeed.
func listAgentEvents(t *testing.T, c *client.Client, args map[string]any) agentEventsPage {
	t.Helper()
	res := callTool(t, c, "crm_list_events", args)
	if res.IsError {
		t.Fatalf("crm_list_events(%v): %s", args, resultText(res))
	}
	var page agentEventsPage
	if err := json.Unmarshal([]byte(resultText(res)), &page); err != nil {
		t.Fatal(err)
	}
	return page
}

// awaitEvents polls crm_list_events with args (generously: webhooks and
// feeds are asynchronous) until the page has events matching want.
func awaitEvents(t *testing.T, c *client.Client, args map[string]any, what string, want func([]agentEvent) bool) agentEventsPage {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		page := listAgentEvents(t, c, args)
		if want(page.Events) {
			return page
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: crm_list_events(%v) never showed it; last page %+v", what, args, page)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func eventTypes(evs []agentEvent) []string {
	var out []string
	for _, e := range evs {
		out = append(out, e.Vendor+" "+e.Type+" "+e.RecordID)
	}
	return out
}

// toolJSON calls a tool that must succeed and decodes its result.
func toolJSON(t *testing.T, c *client.Client, name string, args map[string]any) map[string]any {
	t.Helper()
	res := callTool(t, c, name, args)
	if res.IsError {
		t.Fatalf("%s(%v): %s", name, args, resultText(res))
	}
	var out map[string]any
	if err := json.Unmarshal([]byte(resultText(res)), &out); err != nil {
		t.Fatal(err)
	}
	return out
}

// eventsNotes collects a client's notifications/resources/updated.
type eventsNotes struct {
	mu   sync.Mutex
	uris []string
	acks []string
}

func watchNotes(c *client.Client) *eventsNotes {
	n := &eventsNotes{}
	c.OnNotification(func(m mcp.JSONRPCNotification) {
		n.mu.Lock()
		defer n.mu.Unlock()
		switch m.Method {
		case mcp.MethodNotificationResourceUpdated:
			uri, _ := m.Params.AdditionalFields["uri"].(string)
			n.uris = append(n.uris, uri)
		case mcp.MethodNotificationSubscriptionsAcknowledged:
			b, _ := json.Marshal(m.Params.AdditionalFields["notifications"])
			n.acks = append(n.acks, string(b))
		}
	})
	return n
}

func (n *eventsNotes) await(t *testing.T, what string, cond func(uris, acks []string) bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		n.mu.Lock()
		ok := cond(slices.Clone(n.uris), slices.Clone(n.acks))
		uris, acks := slices.Clone(n.uris), slices.Clone(n.acks)
		n.mu.Unlock()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: notified %v, acknowledged %v", what, uris, acks)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Records changed through the tools come back as the vendors' events,
// cursors give only newer ones, and types narrow them.
func TestSandboxChangesBecomeEvents(t *testing.T) {
	c, _ := sandboxApp(t, "", nil)
	stamp := time.Now().UnixNano()
	contact := toolJSON(t, c, "vivre_create_contact", map[string]any{"name": "Event Test", "email": fmt.Sprintf("ev%d@events.example", stamp)})
	id, _ := contact["id"].(string)
	page := awaitEvents(t, c, map[string]any{"vendor": "vivre", "types": []any{"contact.created"}}, "contact.created",
		func(evs []agentEvent) bool {
			return slices.ContainsFunc(evs, func(e agentEvent) bool { return e.RecordID == id })
		})
	created := page.Events[len(page.Events)-1]
	if created.RecordKind != "contact" || created.RecordURI != "vivre://contacts/"+id || !bytes.Contains(created.Payload, []byte(`"Event Test"`)) {
		t.Fatalf("the contact.created event: %+v", created)
	}
	if got := readJSON(t, c, created.RecordURI); got["id"] != id {
		t.Fatalf("its record_uri reads %v", got)
	}
	cursor := page.NextCursor

	deal := toolJSON(t, c, "vivre_create_deal", map[string]any{"contact_id": id, "title": "Events", "value": 1000})
	dealID, _ := deal["id"].(string)
	toolJSON(t, c, "vivre_update_deal", map[string]any{"id": dealID, "stage": "won"})
	toolJSON(t, c, "vivre_log_activity", map[string]any{"contact_id": id, "deal_id": dealID, "type": "call", "note": "won it"})
	want := []string{"vivre deal.created " + dealID, "vivre deal.stage_changed " + dealID, "vivre deal.won " + dealID}
	page = awaitEvents(t, c, map[string]any{"vendor": "vivre", "cursor": cursor}, "the deal's and the activity's events",
		func(evs []agentEvent) bool { return len(evs) == 4 })
	if got := eventTypes(page.Events); !slices.Equal(got[:3], want) || page.Events[3].Type != "activity.logged" {
		t.Fatalf("after the cursor: %v, want %v and activity.logged (and not the contact again)", got, want)
	}
	won := listAgentEvents(t, c, map[string]any{"cursor": cursor, "types": []any{"deal.won"}})
	if got := eventTypes(won.Events); !slices.Equal(got, want[2:]) {
		t.Fatalf("types deal.won: %v", got)
	}
	if again := listAgentEvents(t, c, map[string]any{"vendor": "vivre", "cursor": page.NextCursor}); len(again.Events) != 0 || again.NextPollMS == 0 {
		t.Fatalf("nothing newer than the last cursor: %+v", again)
	}

	xc := toolJSON(t, c, "vixiees_create_contact", map[string]any{"name": "Event Test", "phone": "+5511955501234"})
	xid, _ := xc["id"].(string)
	toolJSON(t, c, "vixiees_update_contact", map[string]any{"id": xid, "name": "Event Test 2"})
	awaitEvents(t, c, map[string]any{"vendor": "vixiees", "types": []any{"contact_updated"}}, "Vixiees contact_updated",
		func(evs []agentEvent) bool {
			n := 0
			for _, e := range evs {
				if e.RecordID == xid && e.RecordKind == "contact" {
					n++
				}
			}
			return n == 2
		})
}

// A client subscribed to events://vivre is told when a Vivre event lands:
// in process with resources/subscribe (2025-11-25), over streamable HTTP
// with subscriptions/listen (2026-07-28), and over legacy SSE with
// resources/subscribe.
func TestSubscribedClientsAreToldOfEvents(t *testing.T) {
	t.Run("resources/subscribe in process", func(t *testing.T) {
		c, n := sandboxApp(t, mcp.ProtocolVersion20251125, nil)
		sub := mcp.SubscribeRequest{}
		sub.Params.URI = "events://vivre"
		//lint:ignore SA1019 resources/subscribe is what clients before 2026-07-28 send: the path under test
		if err := c.Subscribe(context.Background(), sub); err != nil {
			t.Fatal(err)
		}
		toolJSON(t, c, "vivre_create_contact", map[string]any{"name": "Subscribed", "email": "sub@events.example"})
		n.await(t, "events://vivre after a contact was created", func(uris, _ []string) bool { return slices.Contains(uris, "events://vivre") })
		got := readJSON(t, c, "events://vivre")
		evs, _ := got["events"].([]any)
		if len(evs) == 0 || evs[len(evs)-1].(map[string]any)["type"] != "contact.created" {
			t.Fatalf("events://vivre after the notification: %v", got)
		}
	})

	base := startHTTP(t)
	t.Run("subscriptions/listen over streamable HTTP", func(t *testing.T) {
		c := mcpClient(t, base, nil)
		n := watchNotes(c)
		if !mcp.IsModernProtocol(c.ProtocolVersion()) {
			t.Fatalf("negotiated %s", c.ProtocolVersion())
		}
		stop, err := c.ListenAsync(context.Background(), mcp.SubscriptionFilter{ResourceSubscriptions: []string{"events://vivre", "vivre://contacts/cnt_8821"}},
			func(err error) { t.Errorf("listen: %v", err) })
		if err != nil {
			t.Fatal(err)
		}
		defer stop()
		n.await(t, "the acknowledgement", func(_, acks []string) bool { return len(acks) > 0 })
		if n.acks[0] != `{"resourceSubscriptions":["events://vivre"]}` {
			t.Fatalf("acknowledged %s", n.acks[0])
		}
		toolJSON(t, c, "vivre_create_contact", map[string]any{"name": "Listened", "email": "listen@events.example"})
		n.await(t, "events://vivre after a contact was created", func(uris, _ []string) bool { return slices.Contains(uris, "events://vivre") })
	})
	t.Run("resources/subscribe over SSE", func(t *testing.T) {
		c, err := client.NewSSEMCPClient(base + "/sse")
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		n := watchNotes(c)
		initializeAt(t, c, mcp.ProtocolVersion20251125)
		sub := mcp.SubscribeRequest{}
		sub.Params.URI = "events://vixiees"
		//lint:ignore SA1019 resources/subscribe is what clients before 2026-07-28 send: the path under test
		if err := c.Subscribe(context.Background(), sub); err != nil {
			t.Fatal(err)
		}
		toolJSON(t, c, "vixiees_create_contact", map[string]any{"name": "SSE Subscriber", "phone": "+5511955507777"})
		n.await(t, "events://vixiees after a contact was created", func(uris, _ []string) bool { return slices.Contains(uris, "events://vixiees") })
	})
}

// Events belong to the server's own vendor accounts: a caller bringing its
// own keys (CRM_MCP_CLIENT_CREDENTIALS) has no tool, no resource and no
// subscription for them, while a caller on the server's keys reads them.
func TestCallersWithTheirOwnKeysSeeNoEvents(t *testing.T) {
	const secret = "whsec_agent_events_0123456789"
	vendor := vivretest.NewServer(vivretest.Options{})
	defer vendor.Close()
	_, base := startApp(t, slog.New(slog.DiscardHandler), "CRM_MCP_CLIENT_CREDENTIALS", "true", "VIVRE_BASE_URL", vendor.URL,
		"VIVRE_API_KEY", vivretest.APIKey, "VIVRE_WORKSPACE_ID", vivretest.WorkspaceID, "VIVRE_WEBHOOK_SECRET", secret,
		"CRM_MCP_EVENTS_STORE", "memory")
	body := fmt.Appendf(nil, `{"id":"evt_agent_1","event":"deal.won","created_at":%q,"data":{"id":"dl_4420","stage":"won"}}`,
		time.Now().UTC().Format(time.RFC3339))
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write(body)
	req, _ := http.NewRequest(http.MethodPost, base+"/webhooks/vivre", bytes.NewReader(body))
	req.Header.Set("X-Vivre-Signature", hex.EncodeToString(mac.Sum(nil)))
	resp, err := http.DefaultClient.Do(req)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("webhook: %v %v", resp, err)
	}
	resp.Body.Close()

	server := mcpClient(t, base, nil)
	page := awaitEvents(t, server, nil, "the webhook's event", func(evs []agentEvent) bool { return len(evs) == 1 })
	if page.Events[0].Type != "deal.won" || page.Events[0].RecordID != "dl_4420" {
		t.Fatalf("on the server's keys: %+v", page)
	}

	own := mcpClient(t, base, map[string]string{"X-Vivre-Api-Key": vivretest.APIKey, "X-Vivre-Workspace-Id": vivretest.WorkspaceID})
	if names := toolNames(t, own); slices.Contains(names, "crm_list_events") || !slices.Contains(names, "vivre_get_contact") {
		t.Fatalf("tools/list with the caller's keys: %v", names)
	}
	if res, err := own.CallTool(context.Background(), mcp.CallToolRequest{Params: mcp.CallToolParams{Name: "crm_list_events"}}); err == nil && !res.IsError {
		t.Fatalf("crm_list_events with the caller's keys: %s", resultText(res))
	}
	if uris := resourceURIs(t, own); slices.ContainsFunc(uris, func(u string) bool { return strings.HasPrefix(u, "events://") }) {
		t.Fatalf("resources/list with the caller's keys: %v", uris)
	}
	if _, err := readResource(own, "events://vivre"); err == nil || !strings.Contains(err.Error(), "its own vendor keys") {
		t.Fatalf("resources/read with the caller's keys: %v", err)
	}
	// Nothing established: the server closes the stream at once (an
	// established one stays open until the client ends it).
	n := watchNotes(own)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := own.Listen(ctx, mcp.SubscriptionFilter{ResourceSubscriptions: []string{"events://vivre"}}); err != nil || ctx.Err() != nil {
		t.Fatalf("a caller with its own keys was subscribed: the stream stayed open (%v)", err)
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if len(n.acks) > 0 && n.acks[0] != `{}` {
		t.Fatalf("a caller with its own keys was subscribed: %s", n.acks[0])
	}
	if got := readJSON(t, server, "events://vivre"); len(got["events"].([]any)) != 1 {
		t.Fatalf("events://vivre on the server's keys: %v", got)
	}
}

// A WhatsApp template sent in the sandbox is answered a little later; the
// poller reads the reply from Qyvo's feed and agents see it.
func TestSandboxRecipientsReplyToTemplates(t *testing.T) {
	old := sandboxReplyAfter
	sandboxReplyAfter = 200 * time.Millisecond
	t.Cleanup(func() { sandboxReplyAfter = old })
	c, _ := sandboxApp(t, "", nil, "CRM_MCP_QYVO_POLL_SHARE", "1")
	const phone = "+14155550123"
	for _, tp := range toolJSON(t, c, "qyvo_list_templates", nil)["templates"].([]any) {
		tp := tp.(map[string]any)
		if tp["status"] != "approved" {
			continue
		}
		vars := make([]any, int(tp["variables"].(float64)))
		for i := range vars {
			vars[i] = "Noah"
		}
		toolJSON(t, c, "qyvo_send_template_message", map[string]any{"phone": phone, "template": tp["name"], "language": tp["language"], "variables": vars})
		break
	}
	awaitEvents(t, c, map[string]any{"vendor": "qyvo", "types": []any{"message_received"}}, "the recipient's reply",
		func(evs []agentEvent) bool {
			return slices.ContainsFunc(evs, func(e agentEvent) bool {
				var p struct{ Phone, Text string }
				_ = json.Unmarshal(e.Payload, &p)
				return p.Phone == phone && p.Text == qyvotest.ReplyText && e.RecordKind == "contact"
			})
		})
}

// Two replicas on one Redis: a client listening on one is told of an event
// the other received, and reads it there.
func TestSubscribersOfAnotherReplicaAreTold(t *testing.T) {
	url := redistest.URL(t)
	_, baseA := startApp(t, slog.New(slog.DiscardHandler), "CRM_MCP_SANDBOX", "true", "REDIS_URL", url)
	_, baseB := startApp(t, slog.New(slog.DiscardHandler), "CRM_MCP_SANDBOX", "true", "REDIS_URL", url)
	a, b := mcpClient(t, baseA, nil), mcpClient(t, baseB, nil)
	n := watchNotes(b)
	stop, err := b.ListenAsync(context.Background(), mcp.SubscriptionFilter{ResourceSubscriptions: []string{"events://vivre"}},
		func(err error) { t.Errorf("listen: %v", err) })
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	n.await(t, "the acknowledgement", func(_, acks []string) bool { return len(acks) > 0 })
	contact := toolJSON(t, a, "vivre_create_contact", map[string]any{"name": "Replica", "email": "replica@events.example"})
	n.await(t, "events://vivre on replica b", func(uris, _ []string) bool { return slices.Contains(uris, "events://vivre") })
	page := listAgentEvents(t, b, map[string]any{"vendor": "vivre", "types": []any{"contact.created"}})
	if len(page.Events) != 1 || page.Events[0].RecordID != contact["id"] {
		t.Fatalf("replica b lists %+v", page)
	}
}

// Before 2026-07-28, /mcp keeps no session to notify, so it does not offer
// resources/subscribe, and refuses one saying what to use instead (before:
// offered and acknowledged, then never notified). stdio and /sse offer it.
func TestSubscribeIsOfferedOnlyWhereItIsDelivered(t *testing.T) {
	base := startHTTP(t)
	post := func(body string) map[string]any {
		_, raw := postMCP(t, base+"/mcp", body, http.Header{"MCP-Protocol-Version": {"2025-11-25"}})
		var m map[string]any
		if err := json.NewDecoder(bytes.NewReader(raw)).Decode(&m); err != nil {
			t.Fatal(err)
		}
		return m
	}
	init := post(`{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"t","version":"1"}}}`)
	caps, _ := init["result"].(map[string]any)["capabilities"].(map[string]any)
	if rs, _ := caps["resources"].(map[string]any); rs == nil || rs["subscribe"] == true {
		t.Errorf("/mcp at 2025-11-25 offers resources %v, want resources without subscribe", caps["resources"])
	}
	sub := post(`{"jsonrpc":"2.0","id":2,"method":"resources/subscribe","params":{"uri":"events://vivre"}}`)
	e, _ := sub["error"].(map[string]any)
	if e == nil || e["code"] != float64(-32601) || sub["id"] != float64(2) {
		t.Fatalf("resources/subscribe over /mcp: %v, want error -32601 for id 2", sub)
	}
	for _, says := range []string{"subscriptions/listen", "/sse", "stdio", "crm_list_events"} {
		if !strings.Contains(e["message"].(string), says) {
			t.Errorf("the refusal does not mention %s: %s", says, e["message"])
		}
	}

	c, err := client.NewSSEMCPClient(base + "/sse")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	req := mcp.InitializeRequest{}
	req.Params.ProtocolVersion = mcp.ProtocolVersion20251125
	req.Params.ClientInfo = mcp.Implementation{Name: "test", Version: "1"}
	res, err := c.Initialize(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	if res.Capabilities.Resources == nil || !res.Capabilities.Resources.Subscribe {
		t.Errorf("/sse does not offer resources/subscribe: %+v", res.Capabilities.Resources)
	}
	in := stdioApp(t).mcp.HandleMessage(context.Background(), []byte(`{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"t","version":"1"}}}`))
	if b, _ := json.Marshal(in); !strings.Contains(string(b), `"resources":{"subscribe":true`) {
		t.Errorf("in process (as over stdio) resources/subscribe is not offered: %s", b)
	}
}
