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
// be the one asked for. tools/gosdk_test.go checks the tools package alone.

import (
	"context"
	"encoding/json"
	"io"
	"slices"
	"strings"
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
				cs := goSDKConnect(t, ctx, transport, rev)
				if got := cs.InitializeResult().ProtocolVersion; got != rev {
					t.Fatalf("asked for %s, settled on %s", rev, got)
				}
				goSDKTools(t, ctx, cs)
				goSDKResources(t, ctx, cs)
				goSDKPrompts(t, ctx, cs)
			})
		}
	}
}

// goSDKConnect starts crm-mcp --sandbox on transport and connects the Go
// SDK client to it at rev; both stop when the test ends (bounded).
func goSDKConnect(t *testing.T, ctx context.Context, transport, rev string) *sdk.ClientSession {
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
	c := sdk.NewClient(&sdk.Implementation{Name: "crm-mcp-gosdk-e2e", Version: "1"}, nil)
	cs, err := c.Connect(ctx, tr, &sdk.ClientSessionOptions{ProtocolVersion: rev})
	if err != nil {
		t.Fatalf("connect over %s at %s: %v", transport, rev, err)
	}
	t.Cleanup(func() { _ = cs.Close() })
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
