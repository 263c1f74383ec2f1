package main

// The official Go SDK's client (github.com/modelcontextprotocol/go-sdk, the
// version in go.mod) end to end, as a Go program would use crm-mcp: over
// stdio (run on pipes: flags, env, logger, app and serveStdio, all but the
// process) and over /mcp (a real loopback listener), at each protocol
// revision the SDK speaks that crm-mcp serves. The SDK asks for the
// revision in ClientSessionOptions.ProtocolVersion (default its latest,
// 2026-07-28): from 2026-07-28 it probes with server/discover and sends
// per-request _meta, below that it runs the initialize handshake; the
// revision it settled on is InitializeResult().ProtocolVersion, checked to
// be the one asked for. It also checks, at each revision over both, that a
// send is confirmed through the client's ElicitationHandler (from
// 2026-07-28 the SDK fulfils the input_required result and retries; below
// it, the server sends elicitation/create), and that a client subscribed to
// events://vivre is told of a Vivre contact it creates (resources/subscribe
// over stdio below 2026-07-28, subscriptions/listen from it over both).
// tools/gosdk_test.go checks the tools package alone.

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	sdk "github.com/modelcontextprotocol/go-sdk/mcp"
)

// goSDKRevisions are the revisions the Go SDK and crm-mcp both speak that
// are tested here, oldest first.
var goSDKRevisions = []string{"2025-06-18", "2025-11-25", "2026-07-28"}

func TestGoSDKClientEndToEnd(t *testing.T) {
	for _, transport := range []string{"stdio", "http"} {
		for _, rev := range goSDKRevisions {
			t.Run(transport+"/"+rev, func(t *testing.T) {
				ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
				defer cancel()
				cs := goSDKConnect(t, ctx, transport, rev, nil)
				goSDKTools(t, ctx, cs)
				goSDKResources(t, ctx, cs)
				goSDKPrompts(t, ctx, cs)
			})
		}
	}
}

// goSDKConnect starts crm-mcp --sandbox on transport and connects the Go
// SDK client c (nil: one with the default options) to it at rev, checking
// it settled on rev; both stop when the test ends (bounded).
func goSDKConnect(t *testing.T, ctx context.Context, transport, rev string, c *sdk.Client) *sdk.ClientSession {
	t.Helper()
	var tr sdk.Transport
	switch transport {
	case "stdio":
		inR, inW := io.Pipe()
		outR, outW := io.Pipe()
		var stderr syncBuffer
		exited := make(chan int, 1)
		go func() {
			exited <- run(context.Background(), []string{"--sandbox"}, env("LOG_LEVEL", "warn"), inR, outW, &stderr)
			_ = outW.Close()
		}()
		t.Cleanup(func() {
			_ = inW.Close() // stdin ends: the server answers what it read and exits
			go func() { _, _ = io.Copy(io.Discard, outR) }()
			select {
			case code := <-exited:
				if code != 0 {
					t.Errorf("crm-mcp exited %d: %s", code, stderr.String())
				}
			case <-time.After(15 * time.Second):
				t.Errorf("crm-mcp did not exit 15 s after stdin closed: %s", stderr.String())
			}
		})
		tr = &sdk.IOTransport{Reader: outR, Writer: inW}
	case "http":
		tr = &sdk.StreamableClientTransport{Endpoint: startHTTP(t) + "/mcp"}
	}
	if c == nil {
		c = sdk.NewClient(&sdk.Implementation{Name: "crm-mcp-gosdk-e2e", Version: "1"}, nil)
	}
	cs, err := c.Connect(ctx, tr, &sdk.ClientSessionOptions{ProtocolVersion: rev})
	if err != nil {
		t.Fatalf("connect over %s at %s: %v", transport, rev, err)
	}
	t.Cleanup(func() { _ = cs.Close() })
	if got := cs.InitializeResult().ProtocolVersion; got != rev {
		t.Fatalf("asked for %s, settled on %s", rev, got)
	}
	return cs
}

// goSDKTools: every tool has an object outputSchema; a success carries
// structured content; a failure is a result with isError, not an error.
func goSDKTools(t *testing.T, ctx context.Context, cs *sdk.ClientSession) {
	t.Helper()
	listed, err := cs.ListTools(ctx, nil)
	if err != nil {
		t.Fatalf("tools/list: %v", err)
	}
	var names []string
	for _, tl := range listed.Tools {
		names = append(names, tl.Name)
		if s, _ := tl.OutputSchema.(map[string]any); s["type"] != "object" {
			t.Errorf("%s: outputSchema %v", tl.Name, tl.OutputSchema)
		}
	}
	if len(names) < 40 || !slices.Contains(names, "vivre_get_contact") {
		t.Fatalf("tools/list: %v", names)
	}

	res, err := cs.CallTool(ctx, &sdk.CallToolParams{Name: "vivre_get_contact", Arguments: map[string]any{"id": "cnt_8800"}})
	if err != nil {
		t.Fatalf("vivre_get_contact: %v", err)
	}
	if sc, _ := res.StructuredContent.(map[string]any); res.IsError || sc["id"] != "cnt_8800" {
		t.Fatalf("vivre_get_contact: isError %v, structured content %v", res.IsError, res.StructuredContent)
	}

	res, err = cs.CallTool(ctx, &sdk.CallToolParams{Name: "vivre_get_contact", Arguments: map[string]any{"id": "cnt_does_not_exist"}})
	if err != nil {
		t.Fatalf("a failing call must come back as a result, not an error: %v", err)
	}
	facts, _ := res.Meta["crm-mcp/error"].(map[string]any)
	if !res.IsError || res.StructuredContent != nil || facts["kind"] != "not_found" || len(res.Content) == 0 {
		t.Fatalf("failing call: %+v", res)
	}
	if tc, _ := res.Content[0].(*sdk.TextContent); tc == nil || !strings.Contains(tc.Text, "no such record") {
		t.Fatalf("failing call's text: %+v", res.Content[0])
	}
}

// goSDKResources: resources and templates list, a contact reads as JSON,
// and the {id} of vivre://contacts/{id} completes from "pri".
func goSDKResources(t *testing.T, ctx context.Context, cs *sdk.ClientSession) {
	t.Helper()
	resources, err := cs.ListResources(ctx, nil)
	if err != nil {
		t.Fatalf("resources/list: %v", err)
	}
	var uris []string
	for _, r := range resources.Resources {
		uris = append(uris, r.URI)
	}
	if !slices.Contains(uris, "qyvo://templates") || !slices.Contains(uris, "ralivi://organization") {
		t.Errorf("resources/list: %v", uris)
	}
	templates, err := cs.ListResourceTemplates(ctx, nil)
	if err != nil {
		t.Fatalf("resources/templates/list: %v", err)
	}
	var tmpls []string
	for _, r := range templates.ResourceTemplates {
		tmpls = append(tmpls, r.URITemplate)
	}
	if !slices.Contains(tmpls, "vivre://contacts/{id}") || !slices.Contains(tmpls, "nexvio://contacts/{id}/conversations") {
		t.Errorf("resources/templates/list: %v", tmpls)
	}

	contact := goSDKReadJSON(t, ctx, cs, "vivre://contacts/cnt_8800")
	if contact["id"] != "cnt_8800" {
		t.Errorf("read vivre://contacts/cnt_8800: %v", contact)
	}

	done, err := cs.Complete(ctx, &sdk.CompleteParams{
		Ref:      &sdk.CompleteReference{Type: "ref/resource", URI: "vivre://contacts/{id}"},
		Argument: sdk.CompleteParamsArgument{Name: "id", Value: "pri"},
	})
	if err != nil {
		t.Fatalf("completion/complete: %v", err)
	}
	if len(done.Completion.Values) == 0 {
		t.Fatal(`"pri" completes no vivre://contacts/{id}`)
	}
	if name, _ := goSDKReadJSON(t, ctx, cs, "vivre://contacts/"+done.Completion.Values[0])["name"].(string); !strings.HasPrefix(strings.ToLower(name), "pri") {
		t.Errorf(`"pri" completed to %s, named %q`, done.Completion.Values[0], name)
	}
}

// goSDKReadJSON reads uri, which must be one application/json text.
func goSDKReadJSON(t *testing.T, ctx context.Context, cs *sdk.ClientSession, uri string) map[string]any {
	t.Helper()
	res, err := cs.ReadResource(ctx, &sdk.ReadResourceParams{URI: uri})
	if err != nil {
		t.Fatalf("read %s: %v", uri, err)
	}
	if len(res.Contents) != 1 || res.Contents[0].URI != uri || res.Contents[0].MIMEType != "application/json" {
		t.Fatalf("read %s: %+v", uri, res.Contents)
	}
	var v map[string]any
	if err := json.Unmarshal([]byte(res.Contents[0].Text), &v); err != nil {
		t.Fatalf("read %s: %v: %q", uri, err, res.Contents[0].Text)
	}
	return v
}

// goSDKPrompts: the prompts list, and log_call renders its arguments.
func goSDKPrompts(t *testing.T, ctx context.Context, cs *sdk.ClientSession) {
	t.Helper()
	listed, err := cs.ListPrompts(ctx, nil)
	if err != nil {
		t.Fatalf("prompts/list: %v", err)
	}
	var names []string
	for _, p := range listed.Prompts {
		names = append(names, p.Name)
	}
	if !slices.Contains(names, "log_call") || !slices.Contains(names, "whatsapp_follow_up") {
		t.Fatalf("prompts/list: %v", names)
	}
	got, err := cs.GetPrompt(ctx, &sdk.GetPromptParams{Name: "log_call", Arguments: map[string]string{
		"contact": "Priya Kapoor", "notes": "Wants the annual plan; send a proposal by Friday.",
	}})
	if err != nil {
		t.Fatalf("prompts/get log_call: %v", err)
	}
	if len(got.Messages) == 0 {
		t.Fatal("prompts/get log_call: no messages")
	}
	if tc, _ := got.Messages[0].Content.(*sdk.TextContent); tc == nil || !strings.Contains(tc.Text, "Call with: Priya Kapoor") || !strings.Contains(tc.Text, "annual plan") {
		t.Fatalf("prompts/get log_call: %+v", got.Messages[0].Content)
	}
}

// goSDKEmily is a seeded Qyvo contact, and the seeded template's text
// (order_confirmation, en) the question must show filled in.
const (
	goSDKEmilyName  = "Emily Carter"
	goSDKEmilyPhone = "+14155550101"
	goSDKTemplate   = "Hi {{1}}, your order {{2}} is confirmed. We will message you when it ships."
)

// goSDKPerson answers every question the Go SDK client is asked with
// action (accept ticks confirm), remembers the questions, and counts the
// elicitation/create requests the server sent (the SDK fulfils a
// 2026-07-28 input_required result without one).
type goSDKPerson struct {
	action   string
	mu       sync.Mutex
	asked    []string
	requests int
}

func (p *goSDKPerson) client() *sdk.Client {
	c := sdk.NewClient(&sdk.Implementation{Name: "crm-mcp-gosdk-e2e", Version: "1"}, &sdk.ClientOptions{
		ElicitationHandler: func(_ context.Context, req *sdk.ElicitRequest) (*sdk.ElicitResult, error) {
			p.mu.Lock()
			defer p.mu.Unlock()
			p.asked = append(p.asked, req.Params.Message)
			if p.action == "accept" {
				return &sdk.ElicitResult{Action: "accept", Content: map[string]any{"confirm": true}}, nil
			}
			return &sdk.ElicitResult{Action: p.action}, nil
		},
	})
	c.AddReceivingMiddleware(func(next sdk.MethodHandler) sdk.MethodHandler {
		return func(ctx context.Context, method string, req sdk.Request) (sdk.Result, error) {
			if method == "elicitation/create" {
				p.mu.Lock()
				p.requests++
				p.mu.Unlock()
			}
			return next(ctx, method, req)
		}
	})
	return c
}

// goSDKCall calls a tool that must succeed and returns its structured
// content.
func goSDKCall(t *testing.T, ctx context.Context, cs *sdk.ClientSession, name string, args map[string]any) map[string]any {
	t.Helper()
	res, err := cs.CallTool(ctx, &sdk.CallToolParams{Name: name, Arguments: args})
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	out, _ := res.StructuredContent.(map[string]any)
	if res.IsError || out == nil {
		t.Fatalf("%s: isError %v, %+v", name, res.IsError, res.Content)
	}
	return out
}

// goSDKSentTo: the message ids of the sandbox's campaign_sent feed
// (qyvo_list_recent) for phone.
func goSDKSentTo(t *testing.T, ctx context.Context, cs *sdk.ClientSession, phone string) []string {
	t.Helper()
	var ids []string
	evs, _ := goSDKCall(t, ctx, cs, "qyvo_list_recent", map[string]any{"event": "campaign_sent", "limit": 100})["events"].([]any)
	for _, e := range evs {
		if e, _ := e.(map[string]any); e["phone"] == phone {
			id, _ := e["message_id"].(string)
			ids = append(ids, id)
		}
	}
	return ids
}

// Sends a person confirms (README), with the Go SDK's ElicitationHandler:
// the question names the recipient and the template with its variables
// filled in; accept sends exactly one message (qyvo_list_recent shows it),
// decline none, as a result with declined: true that is not an error.
func TestGoSDKClientConfirmsSends(t *testing.T) {
	for _, transport := range []string{"stdio", "http"} {
		for _, rev := range goSDKRevisions {
			for _, action := range []string{"accept", "decline"} {
				t.Run(transport+"/"+rev+"/"+action, func(t *testing.T) {
					ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
					defer cancel()
					p := &goSDKPerson{action: action}
					cs := goSDKConnect(t, ctx, transport, rev, p.client())
					if _, err := cs.ListTools(ctx, nil); err != nil { // results are then checked against the output schemas
						t.Fatalf("tools/list: %v", err)
					}
					order := fmt.Sprintf("#%06d", rand.IntN(1000000)) // a new send, never a duplicate answered without asking
					before := goSDKSentTo(t, ctx, cs, goSDKEmilyPhone)
					res, err := cs.CallTool(ctx, &sdk.CallToolParams{Name: "qyvo_send_template_message", Arguments: map[string]any{
						"phone": goSDKEmilyPhone, "template": "order_confirmation", "variables": []string{"Emily", order}}})
					if err != nil {
						t.Fatalf("send: %v", err)
					}
					var fresh []string
					for _, id := range goSDKSentTo(t, ctx, cs, goSDKEmilyPhone) {
						if !slices.Contains(before, id) {
							fresh = append(fresh, id)
						}
					}

					p.mu.Lock()
					asked, requests := slices.Clone(p.asked), p.requests
					p.mu.Unlock()
					rendered := strings.NewReplacer("{{1}}", "Emily", "{{2}}", order).Replace(goSDKTemplate)
					if len(asked) != 1 || !strings.Contains(asked[0], goSDKEmilyName+", "+goSDKEmilyPhone) || !strings.Contains(asked[0], rendered) {
						t.Fatalf("questions: %q", asked)
					}
					if wantRequests := map[bool]int{true: 0, false: 1}[rev >= "2026-07-28"]; requests != wantRequests {
						t.Errorf("elicitation/create requests: %d, want %d (2026-07-28: none, the call answers input_required)", requests, wantRequests)
					}

					out, _ := res.StructuredContent.(map[string]any)
					switch {
					case res.IsError || out == nil:
						t.Fatalf("%s: isError %v, %+v", action, res.IsError, res.Content)
					case action == "accept" && (out["declined"] != nil || len(fresh) != 1 || out["id"] != fresh[0]):
						t.Fatalf("accepted: result %v, new messages %v", out, fresh)
					case action == "decline" && (out["declined"] != true || len(fresh) != 0):
						t.Fatalf("declined: result %v, new messages %v", out, fresh)
					}
				})
			}
		}
	}
}

// A Go SDK client subscribed to events://vivre is sent
// notifications/resources/updated for it once a Vivre contact it creates
// is in the event log, and crm_list_events then lists the contact.created
// event: over stdio with resources/subscribe below 2026-07-28, and with
// subscriptions/listen (which the SDK's Subscribe sends from 2026-07-28)
// over stdio and /mcp. (Stateless /mcp below 2026-07-28 keeps no session to
// notify.)
func TestGoSDKClientFollowsEvents(t *testing.T) {
	for _, transport := range []string{"stdio", "http"} {
		for _, rev := range goSDKRevisions {
			if transport == "http" && rev < "2026-07-28" {
				continue
			}
			t.Run(transport+"/"+rev, func(t *testing.T) {
				ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
				defer cancel()
				updated := make(chan string, 16)
				acked := make(chan []string, 4)
				c := sdk.NewClient(&sdk.Implementation{Name: "crm-mcp-gosdk-e2e", Version: "1"}, &sdk.ClientOptions{
					ResourceUpdatedHandler: func(_ context.Context, req *sdk.ResourceUpdatedNotificationRequest) {
						select {
						case updated <- req.Params.URI:
						default:
						}
					},
				})
				c.AddReceivingMiddleware(func(next sdk.MethodHandler) sdk.MethodHandler {
					return func(ctx context.Context, method string, req sdk.Request) (sdk.Result, error) {
						if p, ok := req.GetParams().(*sdk.SubscriptionsAcknowledgedParams); ok && method == "notifications/subscriptions/acknowledged" {
							select {
							case acked <- p.Notifications.ResourceSubscriptions:
							default:
							}
						}
						return next(ctx, method, req)
					}
				})
				cs := goSDKConnect(t, ctx, transport, rev, c)
				if err := cs.Subscribe(ctx, &sdk.SubscribeParams{URI: "events://vivre"}); err != nil {
					t.Fatalf("subscribe: %v", err)
				}
				if rev >= "2026-07-28" { // Subscribe does not wait for the listen stream's acknowledgement
					select {
					case got := <-acked:
						if !slices.Equal(got, []string{"events://vivre"}) {
							t.Fatalf("subscriptions/listen acknowledged %v", got)
						}
					case <-time.After(15 * time.Second):
						t.Fatal("no notifications/subscriptions/acknowledged in 15 s")
					}
				}

				contact := goSDKCall(t, ctx, cs, "vivre_create_contact", map[string]any{
					"name": "Go SDK Subscriber", "email": fmt.Sprintf("gosdk-%d@events.example", time.Now().UnixNano())})
				id, _ := contact["id"].(string)
				for deadline := time.After(10 * time.Second); ; {
					select {
					case uri := <-updated:
						if uri != "events://vivre" {
							continue
						}
					case <-deadline:
						t.Fatal("no notifications/resources/updated for events://vivre in 10 s after vivre_create_contact")
					}
					break
				}

				// The notification says the event is in the log (polled briefly,
				// should it have been for another event).
				var page map[string]any
				for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(100 * time.Millisecond) {
					page = goSDKCall(t, ctx, cs, "crm_list_events", map[string]any{"vendor": "vivre", "types": []string{"contact.created"}})
					evs, _ := page["events"].([]any)
					if slices.ContainsFunc(evs, func(e any) bool {
						m, _ := e.(map[string]any)
						return m["record_id"] == id && m["type"] == "contact.created" && m["record_uri"] == "vivre://contacts/"+id
					}) {
						return
					}
					if time.Now().After(deadline) {
						t.Fatalf("crm_list_events does not list the contact.created event of %s: %v", id, page)
					}
				}
			})
		}
	}
}
