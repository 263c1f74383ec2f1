package tools

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mark3labs/mcp-go/client"
	"github.com/mark3labs/mcp-go/mcp"

	"github.com/crm-mcp/crm-mcp/vendors/events"
)

// eventsServer is the agent side of log, serving the events of vendors
// (callers may bring keys when perRequest); the log is closed when the
// test ends.
func eventsServer(t *testing.T, log events.Log, perRequest bool, vendors ...string) *Events {
	t.Helper()
	t.Cleanup(func() { _ = log.Close() }) // ends the server's reader of the log
	return NewEvents(EventsOptions{Log: log, Vendors: vendors, PerRequestKeys: perRequest})
}

// eventsClient connects an in-process client speaking version (a legacy
// one: the initialize handshake; "": the newest) to a server with ev, and
// collects the notifications it gets.
func eventsClient(t *testing.T, ev *Events, version string) (*client.Client, *notes) {
	t.Helper()
	s := NewServer(ServerOptions{Name: "crm-mcp-test", Version: "test", Tools: ev.Tools(), Events: ev})
	n := &notes{}
	c, _ := connectInProcess(t, s, version, func(c *client.Client) { c.OnNotification(n.add) })
	return c, n
}

// notes collects notifications.
type notes struct {
	mu   sync.Mutex
	list []mcp.JSONRPCNotification
}

func (n *notes) add(m mcp.JSONRPCNotification) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.list = append(n.list, m)
}

// updated are the URIs of the notifications/resources/updated received.
func (n *notes) updated() []string {
	n.mu.Lock()
	defer n.mu.Unlock()
	var out []string
	for _, m := range n.list {
		if m.Method == mcp.MethodNotificationResourceUpdated {
			uri, _ := m.Params.AdditionalFields["uri"].(string)
			out = append(out, uri)
		}
	}
	return out
}

// waitUpdated waits (generously) for a notification about uri and returns
// every URI notified until then.
func (n *notes) waitUpdated(t *testing.T, uri string) []string {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		if got := n.updated(); slices.Contains(got, uri) {
			return got
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("no notifications/resources/updated for %s; got %v", uri, n.updated())
	return nil
}

func appendEvent(t *testing.T, log events.Log, vendor, typ, kind, id string) {
	t.Helper()
	payload := fmt.Appendf(nil, `{"id":%q}`, id)
	if ok, err := log.Append(context.Background(), events.Event{Vendor: vendor, Type: typ, RecordKind: kind, RecordID: id, Payload: payload}, ""); !ok || err != nil {
		t.Fatalf("append: %v %v", ok, err)
	}
}

func listEvents(t *testing.T, ctx context.Context, c *client.Client, args map[string]any) (eventsPage, *mcp.CallToolResult) {
	t.Helper()
	req := mcp.CallToolRequest{}
	req.Params.Name, req.Params.Arguments = listEventsName, args
	res, err := c.CallTool(ctx, req)
	if err != nil {
		t.Fatalf("crm_list_events: %v", err)
	}
	var page eventsPage
	if !res.IsError {
		if err := json.Unmarshal([]byte(res.Content[0].(mcp.TextContent).Text), &page); err != nil {
			t.Fatal(err)
		}
	}
	return page, res
}

func types(page eventsPage) []string {
	var out []string
	for _, e := range page.Events {
		out = append(out, e.Vendor+" "+e.Type)
	}
	return out
}

func TestListEventsPagesForward(t *testing.T) {
	log := events.NewMemory(events.Options{})
	ev := eventsServer(t, log, false, EventVendors...)
	c, _ := eventsClient(t, ev, "")
	ctx := context.Background()
	schemas := outputSchemas(t)

	page, res := listEvents(t, ctx, c, nil)
	conforms(t, schemas, listEventsName, res)
	if len(page.Events) != 0 || page.NextPollMS != pollAgainMS {
		t.Fatalf("an empty log: %+v", page)
	}

	appendEvent(t, log, "vivre", "contact.created", "contact", "cnt_1")
	appendEvent(t, log, "qyvo", "message_received", "contact", "0f8fad5b-d9cb-469f-a165-70867728950e")
	appendEvent(t, log, "vixiees", "deal_updated", "deal", "vx_deal_5001")
	appendEvent(t, log, "nexvio", "something", "", "") // not a vendor with events here: never shown

	page, res = listEvents(t, ctx, c, map[string]any{"limit": 2})
	conforms(t, schemas, listEventsName, res)
	if got := types(page); !slices.Equal(got, []string{"qyvo message_received", "vixiees deal_updated"}) {
		t.Fatalf("no cursor, limit 2: the newest two, oldest first; got %v", got)
	}
	first := page.NextCursor
	page, _ = listEvents(t, ctx, c, nil)
	if got := types(page); !slices.Equal(got, []string{"vivre contact.created", "qyvo message_received", "vixiees deal_updated"}) {
		t.Fatalf("no cursor: %v", got)
	}
	if c := page.Events[0]; c.RecordURI != "vivre://contacts/cnt_1" || string(c.Payload) != `{"id":"cnt_1"}` || c.ReceivedAt.IsZero() {
		t.Fatalf("the Vivre event: %+v", c)
	}
	if c := page.Events[2]; c.RecordURI != "" || c.RecordKind != "deal" || c.RecordID != "vx_deal_5001" {
		t.Fatalf("a record no resource reads has no record_uri: %+v", c)
	}

	page, _ = listEvents(t, ctx, c, map[string]any{"cursor": first})
	if len(page.Events) != 0 || page.NextPollMS != pollAgainMS || page.NextCursor == "" {
		t.Fatalf("nothing newer than the cursor: %+v", page)
	}
	appendEvent(t, log, "vivre", "deal.stage_changed", "deal", "dl_1")
	appendEvent(t, log, "vivre", "deal.won", "deal", "dl_1")
	appendEvent(t, log, "qyvo", "campaign_sent", "contact", "0f8fad5b-d9cb-469f-a165-70867728950e")
	page, res = listEvents(t, ctx, c, map[string]any{"cursor": first, "limit": 2})
	conforms(t, schemas, listEventsName, res)
	if got := types(page); !slices.Equal(got, []string{"vivre deal.stage_changed", "vivre deal.won"}) || page.NextPollMS != 0 {
		t.Fatalf("a full page of the newer events, more waiting: %+v", page)
	}
	page, _ = listEvents(t, ctx, c, map[string]any{"cursor": page.NextCursor, "limit": 2})
	if got := types(page); !slices.Equal(got, []string{"qyvo campaign_sent"}) || page.NextPollMS != pollAgainMS {
		t.Fatalf("the rest, caught up: %+v", page)
	}

	page, _ = listEvents(t, ctx, c, map[string]any{"cursor": first, "types": []any{"deal.won", "campaign_sent"}})
	if got := types(page); !slices.Equal(got, []string{"vivre deal.won", "qyvo campaign_sent"}) {
		t.Fatalf("types: %v", got)
	}
	page, _ = listEvents(t, ctx, c, map[string]any{"cursor": first, "vendor": "vivre"})
	if got := types(page); !slices.Equal(got, []string{"vivre deal.stage_changed", "vivre deal.won"}) {
		t.Fatalf("vendor: %v", got)
	}
	page, _ = listEvents(t, ctx, c, map[string]any{"vendor": "qyvo", "types": []any{"message_received"}})
	if got := types(page); !slices.Equal(got, []string{"qyvo message_received"}) {
		t.Fatalf("no cursor, vendor and types: %v", got)
	}

	for _, bad := range []string{"not-a-cursor", "12-x", "-1"} {
		_, res := listEvents(t, ctx, c, map[string]any{"cursor": bad})
		if body, _ := ErrorOf(res); !res.IsError || body.Fields["cursor"] == "" {
			t.Fatalf("cursor %q: %+v", bad, res)
		}
	}
}

func TestListEventsServesOnlyItsVendors(t *testing.T) {
	log := events.NewMemory(events.Options{})
	appendEvent(t, log, "vivre", "contact.created", "contact", "cnt_1")
	appendEvent(t, log, "qyvo", "message_received", "", "")
	c, _ := eventsClient(t, eventsServer(t, log, false, "qyvo"), "")
	ctx := context.Background()
	page, _ := listEvents(t, ctx, c, nil)
	if got := types(page); !slices.Equal(got, []string{"qyvo message_received"}) {
		t.Fatalf("only Qyvo's events are served: %v", got)
	}
	page, _ = listEvents(t, ctx, c, map[string]any{"cursor": "0-0"})
	if got := types(page); !slices.Equal(got, []string{"qyvo message_received"}) {
		t.Fatalf("with a cursor: %v", got)
	}
	_, res := listEvents(t, ctx, c, map[string]any{"vendor": "vivre"})
	if body, _ := ErrorOf(res); !res.IsError || !strings.Contains(body.Fields["vendor"], "no vivre events") {
		t.Fatalf("a vendor not served: %+v", res)
	}
	list, err := c.ListResources(ctx, mcp.ListResourcesRequest{})
	if err != nil || len(list.Resources) != 1 || list.Resources[0].URI != "events://qyvo" || list.Resources[0].MIMEType != JSONType {
		t.Fatalf("resources: %+v %v", list, err)
	}
}

// readEvents reads an events:// resource.
func readEvents(ctx context.Context, c *client.Client, uri string) (vendorEvents, error) {
	req := mcp.ReadResourceRequest{}
	req.Params.URI = uri
	res, err := c.ReadResource(ctx, req)
	if err != nil {
		return vendorEvents{}, err
	}
	var out vendorEvents
	err = json.Unmarshal([]byte(res.Contents[0].(mcp.TextResourceContents).Text), &out)
	return out, err
}

// A client subscribed through resources/subscribe (2025-11-25) is told
// when one of the vendor's events lands, and only of the vendors it
// subscribed to; the resource then shows the event.
func TestSubscribeTellsOfNewEvents(t *testing.T) {
	log := events.NewMemory(events.Options{})
	c, n := eventsClient(t, eventsServer(t, log, false, EventVendors...), mcp.ProtocolVersion20251125)
	ctx := context.Background()
	if got, err := readEvents(ctx, c, "events://vivre"); err != nil || len(got.Events) != 0 || got.Vendor != "vivre" {
		t.Fatalf("an empty log reads %+v %v", got, err)
	}
	sub := mcp.SubscribeRequest{}
	sub.Params.URI = "events://qyvo"
	//lint:ignore SA1019 resources/subscribe is what clients before 2026-07-28 send: the path under test
	if err := c.Subscribe(ctx, sub); err != nil {
		t.Fatal(err)
	}
	appendEvent(t, log, "vivre", "contact.created", "contact", "cnt_1")
	appendEvent(t, log, "qyvo", "message_received", "", "")
	if got := n.waitUpdated(t, "events://qyvo"); !slices.Equal(got, []string{"events://qyvo"}) {
		t.Fatalf("subscribed to events://qyvo only, told of %v", got)
	}
	sub.Params.URI = "events://vivre"
	//lint:ignore SA1019 resources/subscribe is what clients before 2026-07-28 send: the path under test
	if err := c.Subscribe(ctx, sub); err != nil {
		t.Fatal(err)
	}
	appendEvent(t, log, "vivre", "deal.won", "deal", "dl_1")
	n.waitUpdated(t, "events://vivre")
	got, err := readEvents(ctx, c, "events://vivre")
	if err != nil || len(got.Events) != 2 || got.Events[1].Type != "deal.won" || got.NextCursor != got.Events[1].ID {
		t.Fatalf("events://vivre after the notification: %+v %v", got, err)
	}
	page, _ := listEvents(t, ctx, c, map[string]any{"cursor": got.NextCursor})
	if len(page.Events) != 0 {
		t.Fatalf("the resource's next_cursor is the newest event: %+v", page)
	}
}

// A 2026-07-28 client names the resources in subscriptions/listen; the
// acknowledgement keeps only the events:// URIs it may follow, and those
// are notified while the stream is open.
func TestListenTellsOfNewEvents(t *testing.T) {
	log := events.NewMemory(events.Options{})
	c, n := eventsClient(t, eventsServer(t, log, false, "vivre", "qyvo"), "")
	if !mcp.IsModernProtocol(c.ProtocolVersion()) {
		t.Fatalf("protocol %s", c.ProtocolVersion())
	}
	stop, err := c.ListenAsync(context.Background(), mcp.SubscriptionFilter{ResourceSubscriptions: []string{
		"events://vivre", "events://vixiees", "vivre://contacts/cnt_1"}}, func(err error) { t.Errorf("listen: %v", err) })
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	ack := waitNote(t, n, mcp.MethodNotificationSubscriptionsAcknowledged)
	b, _ := json.Marshal(ack.Params.AdditionalFields["notifications"])
	if string(b) != `{"resourceSubscriptions":["events://vivre"]}` {
		t.Fatalf("acknowledged %s, want only events://vivre (vixiees is not served, vivre:// is never notified)", b)
	}
	appendEvent(t, log, "vivre", "contact.created", "contact", "cnt_1")
	n.waitUpdated(t, "events://vivre")
}

func waitNote(t *testing.T, n *notes, method string) mcp.JSONRPCNotification {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		n.mu.Lock()
		for _, m := range n.list {
			if m.Method == method {
				n.mu.Unlock()
				return m
			}
		}
		n.mu.Unlock()
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("no %s", method)
	return mcp.JSONRPCNotification{}
}

// A request that brings its own vendor keys (where callers may) sees no
// events: no tool, no resources, no subscriptions.
func TestCallerKeysSeeNoEvents(t *testing.T) {
	log := events.NewMemory(events.Options{})
	appendEvent(t, log, "vivre", "contact.created", "contact", "cnt_1")
	c, n := eventsClient(t, eventsServer(t, log, true, EventVendors...), "")
	own := WithRequestHeaders(context.Background(), http.Header{"X-Qyvo-Api-Token": {"someone-elses"}})
	plain := WithRequestHeaders(context.Background(), http.Header{})

	names := func(ctx context.Context) []string {
		res, err := c.ListTools(ctx, mcp.ListToolsRequest{})
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, tl := range res.Tools {
			out = append(out, tl.Name)
		}
		return out
	}
	if !slices.Contains(names(plain), listEventsName) || slices.Contains(names(own), listEventsName) {
		t.Fatalf("tools/list: %v with the server's keys, %v with the caller's", names(plain), names(own))
	}
	if page, _ := listEvents(t, plain, c, nil); len(page.Events) != 1 {
		t.Fatalf("with the server's keys: %+v", page)
	}
	req := mcp.CallToolRequest{}
	req.Params.Name = listEventsName
	if res, err := c.CallTool(own, req); err == nil && !res.IsError {
		t.Fatalf("a caller with its own keys listed events: %+v", res)
	}
	list, err := c.ListResources(own, mcp.ListResourcesRequest{})
	if err != nil || len(list.Resources) != 0 {
		t.Fatalf("resources/list with the caller's keys: %+v %v", list, err)
	}
	if _, err := readEvents(own, c, "events://vivre"); err == nil || !strings.Contains(err.Error(), "brings its own vendor keys") {
		t.Fatalf("resources/read with the caller's keys: %v", err)
	}
	if _, err := readEvents(plain, c, "events://vivre"); err != nil {
		t.Fatal(err)
	}
	stop, err := c.ListenAsync(own, mcp.SubscriptionFilter{ResourceSubscriptions: []string{"events://vivre"}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	ack := waitNote(t, n, mcp.MethodNotificationSubscriptionsAcknowledged)
	if b, _ := json.Marshal(ack.Params.AdditionalFields["notifications"]); string(b) != `{}` {
		t.Fatalf("a caller with its own keys was subscribed: %s", b)
	}
}
