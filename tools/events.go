package tools

// Vendor events, the agent's side. The log (vendors/events) holds what the
// vendors told this server: Vivre's and Vixiees' webhooks, Qyvo's polled
// feeds. An agent reads it three ways:
//
//   - the tool crm_list_events (toolset crm, read-only, scope crm:read):
//     without a cursor the newest events, with next_cursor only the newer
//     ones, and next_poll_ms, how long to wait before asking again;
//   - the resources events://<vendor> (one per vendor with events, JSON):
//     that vendor's newest events and the cursor to continue from;
//   - subscriptions to those resources: resources/subscribe (protocol
//     versions up to 2025-11-25) or the events:// URIs in a
//     subscriptions/listen filter (2026-07-28); a subscribed client gets
//     notifications/resources/updated for events://<vendor> once one of its
//     events is in the log, whichever replica received it (the log's Notify).
//
// Events belong to the deployment's own vendor accounts: they are served
// only for the vendors this server has keys for (or the sandbox), and never
// to a request that brings its own vendor keys (CRM_MCP_CLIENT_CREDENTIALS:
// any X-<Vendor>-* credential header). Such a caller is not shown the tool
// (tools/list leaves it out, tools/call answers "not found"), nor the
// resources (resources/list leaves them out, resources/read refuses), and
// its subscriptions are not established (subscriptions/listen acknowledges
// without them; resources/subscribe, which mcp-go v1.2.1 gives no way to
// refuse from outside its session types, is acknowledged and never
// notified). The same holds, per vendor, for what the vendor's own
// resources follow: --toolsets, X-MCP-Toolsets and the crm:read scope.

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/mark3labs/mcp-go/mcp"
	"github.com/mark3labs/mcp-go/server"

	"github.com/crm-mcp/crm-mcp/vendors"
	"github.com/crm-mcp/crm-mcp/vendors/events"
	"github.com/crm-mcp/crm-mcp/vendors/qyvo"
	"github.com/crm-mcp/crm-mcp/vendors/vivre"
	"github.com/crm-mcp/crm-mcp/vendors/vixiees"
)

// EventVendors are the vendors whose events reach the log, in name order.
var EventVendors = []string{qyvo.Name, vivre.Name, vixiees.Name}

// Bounds of what an agent is handed.
const (
	// listEventsName is the tool's name.
	listEventsName = "crm_list_events"
	// eventsMaxLimit is the largest page crm_list_events returns: each
	// event may carry up to 4 KiB of the vendor's data.
	eventsMaxLimit = 100
	// eventsTail is how many of each vendor's newest events are kept in
	// memory, for calls without a cursor and for the resources.
	eventsTail = 200
	// eventsResourceSize is how many events an events:// resource shows.
	eventsResourceSize = 20
	// pollAgainMS is next_poll_ms once the caller has seen everything.
	pollAgainMS = 2000
	// listRounds bounds the log reads of one call with a cursor.
	listRounds = 5
)

// EventsOptions configure the agent side of vendor events.
type EventsOptions struct {
	// Log is the event log; nil serves no events (empty pages).
	Log events.Log
	// Vendors are the vendors whose events are served: those among
	// EventVendors this server has its own keys for (or the sandbox's),
	// kept by --toolsets. Each has a resource events://<vendor>.
	Vendors []string
	// Visible says whether this request may use a vendor's resources (the
	// per-request toolset and scope narrowing); nil: always.
	Visible func(ctx context.Context, vendor string) bool
	// PerRequestKeys: callers may bring their own vendor keys; a request
	// that does sees no events.
	PerRequestKeys bool
	// Logger is told of log reads that fail in the background (nil: the
	// server's).
	Logger *slog.Logger
}

// Events serves the event log to agents: the tool (Tools), and, once
// NewServer attaches it, the resources and their subscriptions.
type Events struct {
	o         EventsOptions
	recordURI map[string]Resource // "<vendor>/<kind>" -> the template reading that record
	subs      *subscriptions
	attached  sync.Once    // the log is followed once, whatever attaches it
	notifyLog *slog.Logger // set before following starts

	sem    chan struct{} // held while reading the log forward (one reader at a time)
	mu     sync.Mutex    // guards what follows
	cursor string        // the newest event id read
	seq    uint64        // counts events read, to merge the tails in log order
	tails  map[string][]tailEvent
}

type tailEvent struct {
	seq uint64
	e   events.Event
}

// NewEvents returns the agent side of the log.
func NewEvents(o EventsOptions) *Events {
	e := &Events{o: o, recordURI: map[string]Resource{}, subs: newSubscriptions(), sem: make(chan struct{}, 1),
		tails: map[string][]tailEvent{}, notifyLog: o.Logger}
	for _, v := range Vendors() {
		for _, r := range v.ResourceCatalog() {
			scheme, rest, ok := strings.Cut(r.URI, "://")
			collection, last, nested := strings.Cut(rest, "/")
			if ok && nested && last == "{id}" && scheme == r.Vendor && strings.HasSuffix(collection, "s") {
				e.recordURI[r.Vendor+"/"+strings.TrimSuffix(collection, "s")] = r
			}
		}
	}
	return e
}

// Tools are the events tools: crm_list_events.
func (e *Events) Tools() []Tool { return []Tool{e.listTool()} }

// EventsURI is the resource of a vendor's events.
func EventsURI(vendor string) string { return "events://" + vendor }

// Event is one vendor event as an agent reads it: the log's event, and the
// resource that reads its record when there is one.
type Event struct {
	events.Event
	RecordURI string `json:"record_uri,omitempty"`
}

type eventsPage struct {
	Events     []Event `json:"events"`
	NextCursor string  `json:"next_cursor"`
	NextPollMS int     `json:"next_poll_ms"`
}

type vendorEvents struct {
	Vendor     string  `json:"vendor"`
	Events     []Event `json:"events"`
	NextCursor string  `json:"next_cursor"`
}

type listEventsIn struct {
	Vendor string   `json:"vendor,omitempty" jsonschema:"enum=qyvo,enum=vivre,enum=vixiees" jsonschema_description:"Only this vendor's events."`
	Types  []string `json:"types,omitempty" jsonschema:"maxItems=20" jsonschema_description:"Only events of these types, the vendor's own names: deal.won, deal_updated, message_received..."`
	Cursor string   `json:"cursor,omitempty" jsonschema:"maxLength=64" jsonschema_description:"next_cursor of an earlier call: only newer events. Omit for the newest."`
	Limit  int      `json:"limit,omitempty" jsonschema:"minimum=1,maximum=100,default=20" jsonschema_description:"Most events to return."`
}

// Validate bounds the types.
func (in listEventsIn) Validate() error {
	for _, t := range in.Types {
		if strings.TrimSpace(t) == "" || len(t) > 100 {
			return vendors.Invalid("", "types", "each type is an event name of 1 to 100 characters, as events show it in their type")
		}
	}
	return nil
}

func (e *Events) listTool() Tool {
	return New("crm", listEventsName, "List vendor events",
		"List what happened at the vendors (webhooks, inbound WhatsApp messages), oldest first, each with the record it is about. "+
			"Pass next_cursor back to get only newer events; next_poll_ms says when to ask again (0: more are waiting now).",
		Read, e.list)
}

// list is crm_list_events: the newest events without a cursor, the newer
// ones with it.
func (e *Events) list(ctx context.Context, in listEventsIn) (eventsPage, error) {
	limit := min(orDefault(in.Limit, 20), eventsMaxLimit)
	allowed, err := e.allowed(ctx, in.Vendor)
	if err != nil {
		return eventsPage{}, err
	}
	if e.o.Log == nil || len(allowed) == 0 {
		return eventsPage{Events: []Event{}, NextCursor: in.Cursor, NextPollMS: pollAgainMS}, nil
	}
	if in.Cursor == "" {
		evs, cursor, err := e.newest(ctx, allowed, in.Types, limit)
		if err != nil {
			return eventsPage{}, err
		}
		return eventsPage{Events: evs, NextCursor: cursor, NextPollMS: pollAgainMS}, nil
	}
	q := events.Query{Vendor: in.Vendor, Types: in.Types, After: in.Cursor}
	out := []Event{}
	caughtUp := false
	for range listRounds {
		q.Limit = limit - len(out)
		evs, next, err := e.o.Log.List(ctx, q)
		if errors.Is(err, events.ErrBadCursor) {
			return eventsPage{}, vendors.Invalid("", "cursor", "not a cursor of this server's events: pass next_cursor from an earlier crm_list_events or events:// resource, or omit it for the newest events")
		}
		if err != nil {
			return eventsPage{}, logError(err)
		}
		for _, ev := range evs {
			if slices.Contains(allowed, ev.Vendor) {
				out = append(out, e.item(ev))
			}
		}
		if next == "" || next == q.After { // nothing newer looked at: caught up
			caughtUp = true
			break
		}
		q.After = next
		if len(out) == limit {
			break
		}
	}
	page := eventsPage{Events: out, NextCursor: q.After}
	if caughtUp {
		page.NextPollMS = pollAgainMS
	}
	return page, nil
}

// allowed are the vendors whose events this request may see: vendor alone
// when given (an error when it may not), else every one it may.
func (e *Events) allowed(ctx context.Context, vendor string) ([]string, error) {
	if e.callerKeys(ctx) {
		return nil, errors.New("vendor events belong to this server's own vendor accounts; a request that brings its own vendor keys sees none. " +
			"Read your records with the vendor tools instead")
	}
	if vendor == "" {
		return e.visibleVendors(ctx), nil
	}
	switch {
	case !slices.Contains(e.o.Vendors, vendor):
		return nil, vendors.Invalid("", "vendor", fmt.Sprintf("no %s events on this server; it has events of %s", vendor, orNone(e.o.Vendors)))
	case !e.visible(ctx, vendor):
		return nil, vendors.Invalid("", "vendor", fmt.Sprintf("the %s toolset is not enabled for this caller (X-MCP-Toolsets, or no crm:read scope); its events are not served", vendor))
	}
	return []string{vendor}, nil
}

// callerKeys reports a request that brings its own vendor keys, where
// callers may.
func (e *Events) callerKeys(ctx context.Context) bool {
	if !e.o.PerRequestKeys {
		return false
	}
	h := RequestHeaders(ctx)
	if h == nil {
		return false
	}
	for _, name := range CredentialHeaders() {
		if h.Get(name) != "" {
			return true
		}
	}
	return false
}

// visible reports whether this request may see vendor's events.
func (e *Events) visible(ctx context.Context, vendor string) bool {
	return slices.Contains(e.o.Vendors, vendor) && !e.callerKeys(ctx) && (e.o.Visible == nil || e.o.Visible(ctx, vendor))
}

func (e *Events) visibleVendors(ctx context.Context) []string {
	var out []string
	for _, v := range e.o.Vendors {
		if e.visible(ctx, v) {
			out = append(out, v)
		}
	}
	return out
}

// item is an event as an agent reads it.
func (e *Events) item(ev events.Event) Event {
	out := Event{Event: ev}
	if r, ok := e.recordURI[ev.Vendor+"/"+ev.RecordKind]; ok && ev.RecordID != "" {
		out.RecordURI = r.Expand("id", ev.RecordID)
	}
	return out
}

// logError is a failed read of the log as a tool error.
func logError(err error) error {
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
		return err
	}
	return &vendors.Error{Kind: vendors.KindUnavailable, Message: "the event log cannot be read now", Err: err}
}

// newest are the newest limit events of the vendors of (of types, if any), oldest
// first, among the last eventsTail of each vendor, and the cursor that
// follows them.
func (e *Events) newest(ctx context.Context, of []string, types []string, limit int) ([]Event, string, error) {
	if err := e.catchUp(ctx); err != nil {
		return nil, "", err
	}
	e.mu.Lock()
	var all []tailEvent
	for _, v := range of {
		for _, te := range e.tails[v] {
			if len(types) == 0 || slices.Contains(types, te.e.Type) {
				all = append(all, te)
			}
		}
	}
	cursor := e.cursor
	e.mu.Unlock()
	slices.SortFunc(all, func(a, b tailEvent) int { return cmp.Compare(a.seq, b.seq) })
	all = all[max(len(all)-limit, 0):]
	out := make([]Event, len(all))
	for i, te := range all {
		out[i] = e.item(te.e)
	}
	return out, cursor, nil
}

// catchUp reads the log forward from the last event read into the tails
// (the whole log the first time), and tells subscribers of the vendors
// that have new events. One reader at a time; a caller gives up waiting
// for its turn when ctx ends.
func (e *Events) catchUp(ctx context.Context) error {
	select {
	case e.sem <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	}
	defer func() { <-e.sem }()
	e.mu.Lock()
	after := e.cursor
	e.mu.Unlock()
	changed := map[string]bool{}
	defer func() {
		for _, v := range e.o.Vendors {
			if changed[v] {
				e.subs.notify(EventsURI(v))
			}
		}
	}()
	for {
		evs, next, err := e.o.Log.List(ctx, events.Query{After: after, Limit: events.MaxLimit})
		if err != nil {
			return logError(err)
		}
		e.mu.Lock()
		for _, ev := range evs {
			e.seq++
			tail := append(e.tails[ev.Vendor], tailEvent{e.seq, ev})
			if len(tail) > eventsTail {
				tail = slices.Clone(tail[len(tail)-eventsTail:])
			}
			e.tails[ev.Vendor] = tail
			changed[ev.Vendor] = true
		}
		if next != "" {
			e.cursor = next
		}
		done := next == "" || next == after || len(evs) < events.MaxLimit
		e.mu.Unlock()
		if done {
			return nil
		}
		after = next
	}
}

// attach registers the resources and the subscription hooks on s and
// starts following the log.
func (e *Events) attach(s *server.MCPServer, o ServerOptions) {
	if e.notifyLog == nil {
		e.notifyLog = o.Logger
	}
	hooks := s.GetHooks()
	e.subs.hook(hooks, e)
	ro := o
	ro.Visible = nil // readResource checks what this request may see; the hook below filters the lists
	rs := make([]Resource, 0, len(e.o.Vendors))
	for _, v := range e.o.Vendors {
		rs = append(rs, Resource{Vendor: v, URI: EventsURI(v), Name: v + "_events", Title: vendorTitle(v) + " events",
			Description: fmt.Sprintf("The %d newest %s events, oldest first, and next_cursor for crm_list_events. Subscribe to be told when one lands.",
				eventsResourceSize, vendorTitle(v)),
			Read: func(ctx context.Context, _ map[string]string) (any, error) { return e.readResource(ctx, v) }})
	}
	addResources(s, ro, rs)
	hooks.AddAfterListResources(func(ctx context.Context, _ any, _ *mcp.ListResourcesRequest, res *mcp.ListResourcesResult) {
		res.Resources = slices.DeleteFunc(res.Resources, func(r mcp.Resource) bool {
			v, ours := strings.CutPrefix(r.URI, "events://")
			return ours && !e.visible(ctx, v)
		})
	})
	if e.o.Log != nil {
		e.attached.Do(func() { go e.follow() })
	}
}

// vendorTitle is a vendor's name as a title: Vivre.
func vendorTitle(v string) string { return strings.ToUpper(v[:1]) + v[1:] }

// readResource is events://<vendor>.
func (e *Events) readResource(ctx context.Context, vendor string) (any, error) {
	if e.callerKeys(ctx) {
		return nil, errors.New("resource not found: vendor events belong to this server's own vendor accounts, and this request brings its own vendor keys")
	}
	if !e.visible(ctx, vendor) {
		return nil, fmt.Errorf("resource not found: the %s toolset is not enabled for this caller (left out by X-MCP-Toolsets, or no crm:read scope), so its events are not served", vendor)
	}
	out := vendorEvents{Vendor: vendor, Events: []Event{}}
	if e.o.Log == nil {
		return out, nil
	}
	evs, cursor, err := e.newest(ctx, []string{vendor}, nil, eventsResourceSize)
	if err != nil {
		return nil, err
	}
	out.Events, out.NextCursor = evs, cursor
	return out, nil
}

// follow reads the log forward whenever it says something was stored,
// which tells the subscribers; a failed read is tried again every few
// seconds. It ends when the log is closed.
func (e *Events) follow() {
	ch, cancel := e.o.Log.Notify()
	defer cancel()
	retry := time.NewTimer(0) // the first read: the whole log, before anyone asks
	defer retry.Stop()
	failing := false
	for {
		select {
		case _, ok := <-ch:
			if !ok {
				return
			}
		case <-retry.C:
		}
		ctx, done := context.WithTimeout(context.Background(), time.Minute)
		err := e.catchUp(ctx)
		done()
		switch {
		case errors.Is(err, events.ErrClosed):
			return
		case err != nil:
			if !failing {
				e.notifyLog.Warn("vendor events: cannot read the event log; subscribers are told once it can be read", "error", err)
			}
			failing = true
			retry.Reset(3 * time.Second)
		case failing:
			failing = false
			e.notifyLog.Info("vendor events: the event log can be read again")
		}
	}
}

// toolFilter leaves crm_list_events out for a request that may see no
// vendor's events.
func (e *Events) toolFilter(ctx context.Context, ts []mcp.Tool) []mcp.Tool {
	if len(e.visibleVendors(ctx)) > 0 {
		return ts
	}
	out := make([]mcp.Tool, 0, len(ts))
	for _, t := range ts {
		if t.Name != listEventsName {
			out = append(out, t)
		}
	}
	return out
}

// subscriptions are who asked to be told of which events:// resource:
// sessions through resources/subscribe (kept while the session lives) and
// subscriptions/listen streams (kept while the request runs).
type subscriptions struct {
	mu     sync.Mutex
	live   map[server.ClientSession]bool            // sessions registered with the server
	legacy map[server.ClientSession]map[string]bool // resources/subscribe
	listen map[*listener]bool                       // subscriptions/listen streams
}

type listener struct {
	session server.ClientSession
	uris    []string
}

func newSubscriptions() *subscriptions {
	return &subscriptions{live: map[server.ClientSession]bool{}, legacy: map[server.ClientSession]map[string]bool{}, listen: map[*listener]bool{}}
}

// hook follows sessions and subscriptions through the server's hooks.
func (s *subscriptions) hook(h *server.Hooks, e *Events) {
	h.AddOnRegisterSession(func(_ context.Context, session server.ClientSession) {
		s.mu.Lock()
		defer s.mu.Unlock()
		s.live[session] = true
	})
	h.AddOnUnregisterSession(func(_ context.Context, session server.ClientSession) {
		s.mu.Lock()
		defer s.mu.Unlock()
		delete(s.live, session)
		delete(s.legacy, session)
	})
	// resources/subscribe: recorded for a session that lives on (stdio,
	// SSE, a stateful stream), for an events:// URI the caller may see.
	h.AddAfterSubscribe(func(ctx context.Context, _ any, req *mcp.SubscribeRequest, _ *mcp.EmptyResult) {
		session := server.ClientSessionFromContext(ctx)
		if session == nil || !e.mayFollow(ctx, req.Params.URI) {
			return
		}
		s.mu.Lock()
		defer s.mu.Unlock()
		if !s.live[session] {
			return // an ephemeral session (stateless /mcp): nothing could reach it
		}
		if s.legacy[session] == nil {
			s.legacy[session] = map[string]bool{}
		}
		s.legacy[session][req.Params.URI] = true
	})
	h.AddAfterUnsubscribe(func(ctx context.Context, _ any, req *mcp.UnsubscribeRequest, _ *mcp.EmptyResult) {
		session := server.ClientSessionFromContext(ctx)
		s.mu.Lock()
		defer s.mu.Unlock()
		delete(s.legacy[session], req.Params.URI)
	})
	// subscriptions/listen: the filter keeps only the events:// URIs the
	// caller may see (the acknowledgement says so), recorded until the
	// stream ends.
	h.AddBeforeSubscriptionsListen(func(ctx context.Context, _ any, req *mcp.SubscriptionsListenRequest) {
		want := req.Params.Notifications.ResourceSubscriptions
		var keep []string
		for _, uri := range want {
			if e.mayFollow(ctx, uri) && !slices.Contains(keep, uri) {
				keep = append(keep, uri)
			}
		}
		req.Params.Notifications.ResourceSubscriptions = keep
		session := server.ClientSessionFromContext(ctx)
		if session == nil || len(keep) == 0 {
			return
		}
		l := &listener{session: session, uris: keep}
		s.mu.Lock()
		s.listen[l] = true
		s.mu.Unlock()
		go func() {
			<-ctx.Done()
			s.mu.Lock()
			defer s.mu.Unlock()
			delete(s.listen, l)
		}()
	})
}

// mayFollow reports whether this request may subscribe to uri.
func (e *Events) mayFollow(ctx context.Context, uri string) bool {
	v, ok := strings.CutPrefix(uri, "events://")
	return ok && e.visible(ctx, v)
}

// notify sends notifications/resources/updated for uri to every session
// subscribed to it, at most once each. A session that is not reading
// (its queue full) misses it: the next one, or its next read, catches up.
func (s *subscriptions) notify(uri string) {
	s.mu.Lock()
	var to []server.ClientSession
	for session, uris := range s.legacy {
		if uris[uri] {
			to = append(to, session)
		}
	}
	for l := range s.listen {
		if slices.Contains(l.uris, uri) && !slices.Contains(to, l.session) {
			to = append(to, l.session)
		}
	}
	s.mu.Unlock()
	n := mcp.JSONRPCNotification{JSONRPC: mcp.JSONRPC_VERSION, Notification: mcp.Notification{
		Method: mcp.MethodNotificationResourceUpdated, Params: mcp.NotificationParams{AdditionalFields: map[string]any{"uri": uri}}}}
	for _, session := range to {
		if up, ok := session.(server.SessionWithStreamableHTTPConfig); ok {
			up.UpgradeToSSEWhenReceiveNotification()
		}
		select {
		case session.NotificationChannel() <- n:
		default:
		}
	}
}
