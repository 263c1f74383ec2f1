package tools

// Sends a person confirms (confirm.go), through mcp-go's in-process client
// at both eras: 2025-06-18 (the server sends elicitation/create: bridge)
// and 2026-07-28 (multi round-trip: the client retries with the answer).

import (
	"context"
	"encoding/json"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mark3labs/mcp-go/client"
	"github.com/mark3labs/mcp-go/client/transport"
	"github.com/mark3labs/mcp-go/mcp"

	"github.com/crm-mcp/crm-mcp/vendors"
	"github.com/crm-mcp/crm-mcp/vendors/dedupe"
	"github.com/crm-mcp/crm-mcp/vendors/nexvio/nexviotest"
	"github.com/crm-mcp/crm-mcp/vendors/qyvo/qyvotest"
	"github.com/crm-mcp/crm-mcp/vendors/vixiees/vixieestest"
)

var eras = []string{mcp.ProtocolVersion20250618, mcp.ProtocolVersion20260728}

// asker is the person behind the client: it records every question and
// answers with reply (n counts the questions from 1).
type asker struct {
	mu    sync.Mutex
	asked []mcp.ElicitationParams
	reply func(ctx context.Context, n int) (*mcp.ElicitationResult, error)
}

func (a *asker) Elicit(ctx context.Context, r mcp.ElicitationRequest) (*mcp.ElicitationResult, error) {
	a.mu.Lock()
	a.asked = append(a.asked, r.Params)
	n := len(a.asked)
	a.mu.Unlock()
	return a.reply(ctx, n)
}

func (a *asker) count() int { a.mu.Lock(); defer a.mu.Unlock(); return len(a.asked) }

func (a *asker) last() mcp.ElicitationParams {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.asked[len(a.asked)-1]
}

// says is a person who always answers action, with confirm set as given.
func says(action mcp.ElicitationResponseAction, confirm bool) *asker {
	return &asker{reply: func(context.Context, int) (*mcp.ElicitationResult, error) {
		r := &mcp.ElicitationResult{ElicitationResponse: mcp.ElicitationResponse{Action: action}}
		if action == mcp.ElicitationResponseActionAccept {
			r.Content = map[string]any{"confirm": confirm}
		}
		return r, nil
	}}
}

// confirmRig is a server with Qyvo's, Nexvio's and Vixiees' tools on their
// emulators, and a client of one era; person nil: it cannot elicit.
type confirmRig struct {
	m       *mcpClient
	qyvo    *qyvotest.Emulator
	nexvio  *nexviotest.Emulator
	vixiees *vixieestest.Emulator
}

func newConfirmRig(t *testing.T, version string, policy ConfirmPolicy, person *asker, timeout time.Duration) *confirmRig {
	t.Helper()
	r := &confirmRig{}
	var all []Tool
	for _, v := range Vendors() {
		switch v.Name() {
		case "qyvo", "nexvio", "vixiees":
			set, h := v.Sandbox(vendors.Options{Unlimited: true})
			all = append(all, set.Tools...)
			switch e := h.(type) {
			case *qyvotest.Emulator:
				r.qyvo = e
			case *nexviotest.Emulator:
				r.nexvio = e
			case *vixieestest.Emulator:
				r.vixiees = e
			}
		}
	}
	s := NewServer(ServerOptions{Name: "crm-mcp-test", Version: "test", Tools: all, Dedupe: dedupe.NewMemory(), Confirm: policy, CallTimeout: timeout})
	opts := []client.ClientOption{client.WithProtocolVersion(version)}
	if person != nil {
		opts = append(opts, client.WithElicitationHandler(person))
	}
	c, err := client.NewInProcessClientWithOptions(s, opts...)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := c.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	init := mcp.InitializeRequest{}
	init.Params.ProtocolVersion = version
	init.Params.ClientInfo = mcp.Implementation{Name: "test", Version: "1"}
	if _, err := c.Initialize(ctx, init); err != nil {
		t.Fatal(err)
	}
	if got := c.ProtocolVersion(); got != version {
		t.Fatalf("negotiated %s, want %s", got, version)
	}
	r.m = &mcpClient{t: t, c: c}
	return r
}

// declinedResult checks a call the person declined: a success carrying
// declined: true, valid against the tool's output schema.
func declinedResult(t *testing.T, tool string, res *mcp.CallToolResult) {
	t.Helper()
	obj := conforms(t, outputSchemas(t), tool, res)
	if res.IsError || obj["declined"] != true || !strings.Contains(obj["note"].(string), "nothing was") {
		t.Fatalf("%s: want a declined result, got %s", tool, text(t, res))
	}
}

var emilyArgs = map[string]any{"phone": "+14155550101", "template": "order_confirmation", "variables": []string{"Emily", "#1042"}}

// Accept: the question shows the vendor, the recipient's name and phone and
// the template rendered with its variables; the message is sent once, and
// the identical call again is a duplicate nobody is asked about.
func TestConfirmAcceptSends(t *testing.T) {
	for _, v := range eras {
		t.Run(v, func(t *testing.T) {
			p := says(mcp.ElicitationResponseActionAccept, true)
			r := newConfirmRig(t, v, ConfirmAuto, p, 10*time.Second)
			res := r.m.call("qyvo_send_template_message", emilyArgs)
			conforms(t, outputSchemas(t), "qyvo_send_template_message", res)
			if res.IsError || r.qyvo.Sent() != 1 || p.count() != 1 {
				t.Fatalf("%s; sent %d, asked %d", text(t, res), r.qyvo.Sent(), p.count())
			}
			q := p.last()
			for _, want := range []string{"Qyvo", "Emily Carter", "+14155550101", "order_confirmation (en)",
				"Hi Emily, your order #1042 is confirmed. We will message you when it ships."} {
				if !strings.Contains(q.Message, want) {
					t.Errorf("the question does not show %q:\n%s", want, q.Message)
				}
			}
			schema, _ := json.Marshal(q.RequestedSchema)
			if !strings.Contains(string(schema), `"confirm":{"default":true,"description"`) || !strings.Contains(string(schema), `"type":"boolean"`) {
				t.Errorf("requested schema %s", schema)
			}
			again := ok[qyvoSent](r.m, "qyvo_send_template_message", emilyArgs)
			if !again.Duplicate || r.qyvo.Sent() != 1 || p.count() != 1 {
				t.Fatalf("repeat: %+v, sent %d, asked %d", again, r.qyvo.Sent(), p.count())
			}
		})
	}
}

// Decline, cancel, or accept without ticking confirm: nothing reaches the
// vendor and the result says the person declined (not an error).
func TestConfirmDeclineSendsNothing(t *testing.T) {
	for _, v := range eras {
		t.Run(v, func(t *testing.T) {
			for _, p := range []*asker{
				says(mcp.ElicitationResponseActionDecline, false),
				says(mcp.ElicitationResponseActionCancel, false),
				says(mcp.ElicitationResponseActionAccept, false),
			} {
				r := newConfirmRig(t, v, ConfirmAuto, p, 10*time.Second)
				declinedResult(t, "qyvo_send_template_message", r.m.call("qyvo_send_template_message", emilyArgs))
				if r.qyvo.Sent() != 0 || r.qyvo.Hits("POST /actions/send-template-message") != 0 || p.count() != 1 {
					t.Fatalf("sent %d, asked %d", r.qyvo.Sent(), p.count())
				}
			}
		})
	}
}

// No answer before the call's deadline: nothing is sent. Before
// 2026-07-28 the server waits at most the call's deadline; from 2026-07-28
// an answer that comes back after it is asked again, never acted on.
func TestConfirmLateAnswerSendsNothing(t *testing.T) {
	t.Run(mcp.ProtocolVersion20250618, func(t *testing.T) {
		p := &asker{reply: func(ctx context.Context, _ int) (*mcp.ElicitationResult, error) {
			<-ctx.Done() // the person never answers
			return nil, ctx.Err()
		}}
		r := newConfirmRig(t, mcp.ProtocolVersion20250618, ConfirmAuto, p, 500*time.Millisecond)
		start := time.Now()
		body := r.m.fails("qyvo_send_template_message", emilyArgs)
		if body.Kind != vendors.KindTimeout || !strings.Contains(body.Error, "nothing was done") || time.Since(start) > 3*time.Second {
			t.Fatalf("%+v after %s", body, time.Since(start))
		}
		time.Sleep(100 * time.Millisecond)
		if r.qyvo.Sent() != 0 {
			t.Fatalf("sent %d", r.qyvo.Sent())
		}
	})
	t.Run(mcp.ProtocolVersion20260728, func(t *testing.T) {
		p := &asker{reply: func(_ context.Context, n int) (*mcp.ElicitationResult, error) {
			if n == 1 { // accepts, but only after the call's deadline
				time.Sleep(700 * time.Millisecond)
				return &mcp.ElicitationResult{ElicitationResponse: mcp.ElicitationResponse{Action: "accept", Content: map[string]any{"confirm": true}}}, nil
			}
			return &mcp.ElicitationResult{ElicitationResponse: mcp.ElicitationResponse{Action: "decline"}}, nil
		}}
		r := newConfirmRig(t, mcp.ProtocolVersion20260728, ConfirmAuto, p, 500*time.Millisecond)
		declinedResult(t, "qyvo_send_template_message", r.m.call("qyvo_send_template_message", emilyArgs))
		if r.qyvo.Sent() != 0 || p.count() != 2 {
			t.Fatalf("sent %d, asked %d", r.qyvo.Sent(), p.count())
		}
	})
}

// rawCall sends tools/call with params as they are, over the client's
// transport: what a client that invents answers would send.
func rawCall(t *testing.T, m *mcpClient, params map[string]any) *mcp.CallToolResult {
	t.Helper()
	resp, err := m.c.GetTransport().SendRequest(context.Background(), transport.JSONRPCRequest{
		JSONRPC: mcp.JSONRPC_VERSION, ID: mcp.NewRequestId(time.Now().UnixNano()), Method: "tools/call", Params: params})
	if err != nil || resp.Error != nil {
		t.Fatalf("tools/call: %v %+v", err, resp)
	}
	res, err := mcp.ParseCallToolResult(&resp.Result)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

func modernCall(tool string, args map[string]any, state string, answer map[string]any) map[string]any {
	p := map[string]any{"name": tool, "arguments": args, "_meta": map[string]any{
		mcp.MetaKeyProtocolVersion:    mcp.ProtocolVersion20260728,
		mcp.MetaKeyClientCapabilities: map[string]any{"elicitation": map[string]any{}},
	}}
	if state != "" {
		p["requestState"] = state
	}
	if answer != nil {
		p["inputResponses"] = map[string]any{"confirm": answer}
	}
	return p
}

var yes = map[string]any{"action": "accept", "content": map[string]any{"confirm": true}}

// The confirmation is bound to the exact call: answers without a state, or
// with a forged one, or with a real one for other arguments, or replayed,
// are asked again and nothing is sent; only the state issued for these
// arguments, with the person's accept, sends.
func TestConfirmIsBoundToTheCall(t *testing.T) {
	r := newConfirmRig(t, mcp.ProtocolVersion20260728, ConfirmAuto, says(mcp.ElicitationResponseActionAccept, true), 10*time.Second)
	const tool = "qyvo_send_template_message"
	args := map[string]any{"phone": "+14155550101", "template": "order_confirmation", "variables": []string{"Emily", "#1042"}, "allow_duplicate": true}
	other := map[string]any{"phone": "+14155550101", "template": "order_confirmation", "variables": []string{"Emily", "#9999"}, "allow_duplicate": true}
	askedAgain := func(what string, res *mcp.CallToolResult) {
		t.Helper()
		if !res.NeedsInput() || res.RequestState == "" || res.InputRequests["confirm"].Elicitation == nil || r.qyvo.Sent() != 0 {
			t.Fatalf("%s: want the question again and nothing sent; got %+v, sent %d", what, res, r.qyvo.Sent())
		}
	}
	askedAgain("no state", rawCall(t, r.m, modernCall(tool, args, "", yes)))
	askedAgain("forged state", rawCall(t, r.m, modernCall(tool, args, "forged", yes)))
	first := rawCall(t, r.m, modernCall(tool, args, "", nil))
	askedAgain("first call", first)
	askedAgain("state of other arguments", rawCall(t, r.m, modernCall(tool, other, first.RequestState, yes)))
	tampered := []byte(first.RequestState)
	tampered[3] ^= 1
	askedAgain("tampered state", rawCall(t, r.m, modernCall(tool, args, string(tampered), yes)))
	sent := rawCall(t, r.m, modernCall(tool, args, first.RequestState, yes))
	if sent.IsError || sent.NeedsInput() || r.qyvo.Sent() != 1 {
		t.Fatalf("the real answer: %+v, sent %d", sent, r.qyvo.Sent())
	}
	replay := rawCall(t, r.m, modernCall(tool, args, first.RequestState, yes))
	if !replay.NeedsInput() || r.qyvo.Sent() != 1 {
		t.Fatalf("a replayed answer: %+v, sent %d", replay, r.qyvo.Sent())
	}
}

// Before 2026-07-28 a client cannot answer in advance either: answers in
// the request are ignored and the person is asked.
func TestConfirmLegacyIgnoresInventedAnswers(t *testing.T) {
	p := says(mcp.ElicitationResponseActionDecline, false)
	r := newConfirmRig(t, mcp.ProtocolVersion20250618, ConfirmAuto, p, 10*time.Second)
	res := rawCall(t, r.m, map[string]any{"name": "qyvo_send_template_message", "arguments": emilyArgs,
		"requestState": "forged", "inputResponses": map[string]any{"confirm": yes}})
	declinedResult(t, "qyvo_send_template_message", res)
	if p.count() != 1 || r.qyvo.Sent() != 0 {
		t.Fatalf("asked %d, sent %d", p.count(), r.qyvo.Sent())
	}
}

// always: a client that cannot elicit is refused, with an error naming the
// setting; off: nobody is asked. auto with such a client sends unasked.
func TestConfirmPolicies(t *testing.T) {
	for _, v := range eras {
		t.Run(v, func(t *testing.T) {
			r := newConfirmRig(t, v, ConfirmAlways, nil, 10*time.Second)
			body := r.m.fails("qyvo_send_template_message", emilyArgs)
			if body.Kind != KindConfirmationRequired || !strings.Contains(body.Error, ConfirmEnv+"=always") || r.qyvo.Sent() != 0 {
				t.Fatalf("always, no elicitation: %+v, sent %d", body, r.qyvo.Sent())
			}
			if body := r.m.fails("nexvio_delete_contact", map[string]any{"id": "contact_123abc"}); body.Kind != KindConfirmationRequired || !r.nexvio.HasContact("contact_123abc") {
				t.Fatalf("always, delete: %+v", body)
			}

			p := says(mcp.ElicitationResponseActionDecline, false)
			r = newConfirmRig(t, v, ConfirmOff, p, 10*time.Second)
			if res := r.m.call("qyvo_send_template_message", emilyArgs); res.IsError || r.qyvo.Sent() != 1 || p.count() != 0 {
				t.Fatalf("off: %s, sent %d, asked %d", text(t, res), r.qyvo.Sent(), p.count())
			}

			r = newConfirmRig(t, v, ConfirmAuto, nil, 10*time.Second)
			if res := r.m.call("qyvo_send_template_message", emilyArgs); res.IsError || r.qyvo.Sent() != 1 {
				t.Fatalf("auto, no elicitation: %s, sent %d", text(t, res), r.qyvo.Sent())
			}
		})
	}
}

// Every confirmed tool says what it will do: triggers name the sequence or
// flow and the contact, Vixiees renders its template for a contact it
// looks up, and a delete names the record; each acts only on accept.
func TestConfirmQuestionsOfEveryTool(t *testing.T) {
	for _, v := range eras {
		t.Run(v, func(t *testing.T) {
			p := says(mcp.ElicitationResponseActionAccept, true)
			r := newConfirmRig(t, v, ConfirmAuto, p, 10*time.Second)
			emily := ok[qyvoContactList](r.m, "qyvo_search_contacts", map[string]any{"query": "Emily Carter"}).Contacts[0]
			seqs := ok[qyvoSequences](r.m, "qyvo_list_sequences", nil).Sequences
			flows := ok[qyvoFlows](r.m, "qyvo_list_flows", nil).Flows
			vx := ok[vixieesContactList](r.m, "vixiees_list_contacts", map[string]any{"limit": 1}).Contacts[0]
			asks := func(tool string, args map[string]any, want ...string) {
				t.Helper()
				before := p.count()
				res := r.m.call(tool, args)
				conforms(t, outputSchemas(t), tool, res)
				if res.IsError || p.count() != before+1 {
					t.Fatalf("%s: %s (asked %d)", tool, text(t, res), p.count()-before)
				}
				for _, w := range want {
					if !strings.Contains(p.last().Message, w) {
						t.Errorf("%s: the question does not show %q:\n%s", tool, w, p.last().Message)
					}
				}
			}
			r.qyvo.Inbound(emily.Phone, "Can we meet today?") // opens the 24-hour window
			asks("qyvo_send_text_message", map[string]any{"phone": emily.Phone, "text": "See you at 3pm."}, "Emily Carter", emily.Phone, "See you at 3pm.")
			asks("qyvo_trigger_sequence", map[string]any{"sequence_id": seqs[0].ID, "contact_id": emily.ID}, "Emily Carter", seqs[0].Name, "template welcome_message")
			asks("qyvo_trigger_flow", map[string]any{"flow_id": flows[0].ID, "contact_id": emily.ID}, "Emily Carter", flows[0].Name)
			if r.qyvo.Feed("sequence_triggered") == 0 || r.qyvo.Feed("flow_triggered") == 0 {
				t.Error("accepted triggers did not start")
			}
			asks("vixiees_send_whatsapp_template", map[string]any{"template_id": "vx_tpl_101", "contact_id": vx.ID, "variables": []string{"Ana"}},
				"Vixiees", vx.Name, vx.Phone, "Olá Ana, seja bem-vindo!")
			if r.vixiees.MessageCount() != 1 {
				t.Errorf("vixiees sent %d", r.vixiees.MessageCount())
			}
			asks("nexvio_delete_contact", map[string]any{"id": "contact_123abc"}, "Nexvio", "Contact: John Doe", "contact_123abc", "cannot be undone")
			if r.nexvio.HasContact("contact_123abc") {
				t.Error("the accepted delete did not happen")
			}
		})
	}
}

// A declined delete deletes nothing.
func TestConfirmDeclinedDeleteKeepsTheRecord(t *testing.T) {
	for _, v := range eras {
		r := newConfirmRig(t, v, ConfirmAuto, says(mcp.ElicitationResponseActionDecline, false), 10*time.Second)
		declinedResult(t, "nexvio_delete_contact", r.m.call("nexvio_delete_contact", map[string]any{"id": "contact_123abc"}))
		if !r.nexvio.HasContact("contact_123abc") {
			t.Fatalf("%s: a declined delete deleted the contact", v)
		}
	}
}
