package tools

// Sends a person confirms. A tool that messages someone, starts an
// automation or deletes a record (NewSend, NewConfirmed) asks the person,
// through elicitation, before it acts, when the client can show the
// question: the vendor, the recipient, the exact text that will go out or
// the record to delete. It is written once, as a multi round-trip request
// (SEP-2322): the handler answers input_required with the question and a
// request state, and acts only on a retry that carries the person's
// "accept" and a state that verifies for these exact arguments.
//
//   - 2026-07-28 clients get the input_required result and retry
//     themselves.
//   - Earlier clients cannot: Middleware performs the elicitation/create
//     request for them, within the call's deadline, and re-invokes the
//     handler with the answer (bridge). Over stdio mcp-go's session carries
//     the request. Over stateless streamable HTTP it cannot (the client's
//     answer comes back on another POST, which mcp-go refuses without a
//     session id), and mcp-go's legacy SSE sessions take no server requests
//     at all, so there the HTTP layer supplies an Elicitor (WithElicitor)
//     that writes the request on the call's stream and routes the answer
//     back (cmd/crm-mcp/confirm.go).
//
// The request state binds the answer to the call: an HMAC, under a key the
// replicas share, over the tool, the vendor credential, the caller and the
// arguments with their defaults, plus an expiry (the call's deadline) and a
// nonce that is spent once. A retry whose state does not verify for these
// exact arguments, or whose nonce was spent, is asked again, never acted
// on; there is no argument a model can pass to skip the question.

import (
	"cmp"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/mark3labs/mcp-go/mcp"
	"github.com/mark3labs/mcp-go/server"

	"github.com/crm-mcp/crm-mcp/vendors"
)

// ConfirmPolicy says when a send or a delete asks the person first
// (CRM_MCP_CONFIRM_SENDS).
type ConfirmPolicy string

const (
	// ConfirmAuto asks whenever the client can show the question, and acts
	// without asking when it cannot.
	ConfirmAuto ConfirmPolicy = "auto"
	// ConfirmAlways asks, and refuses the call when the client cannot ask.
	ConfirmAlways ConfirmPolicy = "always"
	// ConfirmOff never asks.
	ConfirmOff ConfirmPolicy = "off"
)

// ConfirmPolicies are the values of CRM_MCP_CONFIRM_SENDS.
var ConfirmPolicies = []ConfirmPolicy{ConfirmAuto, ConfirmAlways, ConfirmOff}

// ConfirmEnv is the setting that chooses the policy; refusals name it.
const ConfirmEnv = "CRM_MCP_CONFIRM_SENDS"

// KindConfirmationRequired: the policy requires a person's confirmation
// and this client cannot ask for one.
const KindConfirmationRequired vendors.Kind = "confirmation_required"

// confirmID is the confirmation's key among a call's input requests.
const confirmID = "confirm"

// maxConfirmRounds bounds how often one call asks again (bridge).
const maxConfirmRounds = 3

// Question is what the person is asked before a send or a delete.
type Question struct {
	Vendor  string   // the vendor as people know it, e.g. Qyvo
	Action  string   // what will happen, e.g. "send this WhatsApp template message"
	Verb    string   // what accepting does: send, start, delete
	To      string   // the recipient or the record: name, phone, id
	ToLabel string   // what To is ("": To)
	Details []string // further lines, e.g. "Template: order_confirmation (en)"
	Text    string   // the exact text that goes out, when known
	Unknown []string // what could not be read, said as such
}

// message is the question as the person reads it.
func (q Question) message() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s: %s?\n", q.Vendor, q.Action)
	if q.To != "" {
		fmt.Fprintf(&b, "\n%s: %s", cmp.Or(q.ToLabel, "To"), q.To)
	}
	for _, d := range q.Details {
		b.WriteString("\n" + d)
	}
	if q.Text != "" {
		b.WriteString("\n\nMessage:\n" + q.Text)
	}
	for _, u := range q.Unknown {
		b.WriteString("\n\nNot shown: " + u + ".")
	}
	verb := cmp.Or(q.Verb, "send")
	fmt.Fprintf(&b, "\n\nAccept to %s it now. Decline and nothing is %s.", verb, pastOf(verb))
	return b.String()
}

func pastOf(verb string) string {
	switch verb {
	case "delete":
		return "deleted"
	case "start":
		return "started"
	}
	return "sent"
}

// params is the elicitation/create request asking q: a one-field form,
// a boolean "confirm" (the protocol takes only flat primitive fields).
func (q Question) params(r *vendors.Redactor) mcp.ElicitationParams {
	msg := q.message()
	if r != nil {
		msg = r.Redact(msg)
	}
	verb := cmp.Or(q.Verb, "send")
	return mcp.ElicitationParams{Message: msg, RequestedSchema: map[string]any{
		"type": "object",
		"properties": map[string]any{confirmID: map[string]any{
			"type": "boolean", "title": strings.ToUpper(verb[:1]) + verb[1:] + " it", "default": true,
			"description": "Leave ticked and accept to " + verb + " it; decline and nothing is " + pastOf(verb) + ".",
		}},
		"required": []string{confirmID},
	}}
}

// confirmer holds the policy and the key of a server's confirmations.
type confirmer struct {
	policy ConfirmPolicy
	key    []byte
	window time.Duration // how long a question may be answered: the call's deadline
}

func newConfirmer(o ServerOptions) *confirmer {
	c := &confirmer{policy: o.Confirm, key: o.ConfirmKey, window: o.CallTimeout}
	if c.policy == "" {
		c.policy = ConfirmAuto
	}
	if len(c.key) == 0 {
		c.key = make([]byte, 32)
		_, _ = rand.Read(c.key)
	}
	if c.window <= 0 {
		c.window = DedupeWindow
	}
	return c
}

// A request state is expiry (Unix ms) | nonce | HMAC of both and the
// binding, base64url.
const (
	stateNonce = 16
	stateHead  = 8 + stateNonce
	stateLen   = stateHead + sha256.Size
)

func (c *confirmer) issue(binding []byte, now time.Time) string {
	b := make([]byte, stateLen)
	binary.BigEndian.PutUint64(b, uint64(now.Add(c.window).UnixMilli()))
	_, _ = rand.Read(b[8:stateHead])
	copy(b[stateHead:], c.mac(binding, b[:stateHead]))
	return base64.RawURLEncoding.EncodeToString(b)
}

func (c *confirmer) mac(binding, head []byte) []byte {
	h := hmac.New(sha256.New, c.key)
	h.Write([]byte("crm-mcp confirm v1\x00"))
	h.Write(binding)
	h.Write(head)
	return h.Sum(nil)
}

// verify returns the nonce and expiry of a state issued for binding that
// has not expired.
func (c *confirmer) verify(state string, binding []byte, now time.Time) ([]byte, time.Time, bool) {
	b, err := base64.RawURLEncoding.DecodeString(state)
	if err != nil || len(b) != stateLen || !hmac.Equal(b[stateHead:], c.mac(binding, b[:stateHead])) {
		return nil, time.Time{}, false
	}
	exp := time.UnixMilli(int64(binary.BigEndian.Uint64(b)))
	if !now.Before(exp) {
		return nil, time.Time{}, false
	}
	return b[8:stateHead], exp, true
}

// binding is what a confirmation is for: the tool, whose vendor
// credential, who calls, and the arguments with their defaults filled in.
// The principal is hashed whenever there is one, so callerScope (the same
// principal, when the caller brought the keys) would add nothing.
func binding(ctx context.Context, name, identity string, in any, defaults map[string]any) []byte {
	h := sha256.New()
	h.Write([]byte(name + "\x00" + identity + "\x00"))
	if p := PrincipalFrom(ctx); p != nil {
		h.Write([]byte("principal\x00" + p.Kind + "\x00" + p.Tenant + "\x00" + p.Subject + "\x00"))
	} else {
		h.Write([]byte("anonymous\x00"))
	}
	h.Write(canonicalArgs(in, defaults))
	return h.Sum(nil)
}

// answer is what the person said, as far as a call's retry shows it.
type answer int

const (
	unanswered  answer = iota // no answer, or none that holds for this call
	accepted                  // accept with confirm: true
	declined                  // decline
	cancelled                 // cancel: dismissed without a choice
	unconfirmed               // accept, but confirm not true
)

// answerOf reads a retry's answer. It holds only with a state issued for
// this binding, not expired and not used before: the nonce is spent here,
// in the duplicate-send store the replicas share.
func (c *confirmer) answerOf(ctx context.Context, p mcp.MultiRoundTripParams, binding func() []byte) (answer, error) {
	if p.RequestState == "" {
		return unanswered, nil
	}
	nonce, exp, ok := c.verify(p.RequestState, binding(), time.Now())
	if !ok {
		return unanswered, nil
	}
	r := server.ElicitationResponse(p.InputResponses, confirmID)
	if r == nil {
		return unanswered, nil
	}
	var a answer
	switch r.Action {
	case mcp.ElicitationResponseActionAccept:
		a = unconfirmed
		if confirmedTrue(r.Content) {
			a = accepted
		}
	case mcp.ElicitationResponseActionDecline:
		a = declined
	case mcp.ElicitationResponseActionCancel:
		a = cancelled
	default:
		return unanswered, nil
	}
	store := dedupeFrom(ctx)
	if store == nil {
		return unanswered, errors.New("no store for confirmations")
	}
	fresh, _, err := store.Claim(ctx, "confirmed:"+hex.EncodeToString(nonce), time.Until(exp)+time.Minute)
	if err != nil {
		return unanswered, err
	}
	if !fresh {
		return unanswered, nil // replayed: ask again
	}
	return a, nil
}

// confirmedTrue: the form's confirm field is true.
func confirmedTrue(content any) bool {
	b, err := json.Marshal(content)
	if err != nil {
		return false
	}
	var f struct {
		Confirm *bool `json:"confirm"`
	}
	return json.Unmarshal(b, &f) == nil && f.Confirm != nil && *f.Confirm
}

// confirmation is one tool call's side of a confirmation.
type confirmation struct {
	binding  func() []byte                      // what the answer is for; costly, so asked for only when needed
	deletion bool                               // a delete, not a send
	ask      func(context.Context) Question     // the question, read from the vendor
	early    func() (*mcp.CallToolResult, bool) // an answer without asking (a duplicate send), if any
	act      func() *mcp.CallToolResult         // the call's effect
}

// confirmed runs the call's effect once the person has accepted this exact
// call, when the policy and the client call for asking.
func confirmed(ctx context.Context, req mcp.CallToolRequest, c confirmation) *mcp.CallToolResult {
	cf := confirmerFrom(ctx)
	if cf == nil || cf.policy == ConfirmOff {
		return c.act()
	}
	a, err := cf.answerOf(ctx, req.Params.MultiRoundTripParams, c.binding)
	if err != nil {
		return failed(ctx, &vendors.Error{Kind: vendors.KindUnavailable, Err: err,
			Message: "the person's answer could not be checked (the confirmation store is unavailable), so nothing was " + c.past()})
	}
	switch a {
	case accepted:
		return c.act()
	case declined, cancelled, unconfirmed:
		return c.declined(ctx, a)
	}
	if !canElicit(ctx) {
		if cf.policy == ConfirmAlways {
			return refusal(ctx, KindConfirmationRequired, "This server has a person confirm every send and deletion ("+ConfirmEnv+"=always), "+
				"but this client cannot ask them: it did not declare the elicitation capability (form mode). Nothing was "+c.past()+". "+
				"Use a client that supports elicitation, or have the operator set "+ConfirmEnv+"=auto.")
		}
		return c.act()
	}
	if c.early != nil {
		if res, ok := c.early(); ok {
			return res
		}
	}
	lctx, cancel := lookupContext(ctx)
	q := c.ask(lctx)
	cancel()
	if ctx.Err() != nil {
		return refusal(ctx, vendors.KindTimeout, "The call ran out of time while preparing the confirmation, so nothing was "+c.past()+". Call again.")
	}
	state := cf.issue(c.binding(), time.Now())
	return server.NewInputRequestBuilder(state).Elicit(confirmID, q.params(vendors.RedactorFrom(ctx))).ToolResult()
}

func (c confirmation) past() string {
	if c.deletion {
		return "deleted"
	}
	return "sent"
}

// declinedOut is a call the person declined: not an error, nothing done.
type declinedOut struct {
	Declined bool   `json:"declined"`
	Note     string `json:"note"`
}

func (c confirmation) declined(ctx context.Context, a answer) *mcp.CallToolResult {
	what := "this send"
	if c.deletion {
		what = "this deletion"
	}
	var note string
	switch a {
	case cancelled:
		note = "The person dismissed the confirmation of " + what + " without answering; nothing was " + c.past() + ". Ask them before trying again."
	case unconfirmed:
		note = "The person did not tick confirm for " + what + "; nothing was " + c.past() + ". Ask them before trying again."
	default:
		note = "The person declined " + what + " when asked to confirm it; nothing was " + c.past() + ". Do not try again unless they ask you to."
	}
	if r := recordFrom(ctx); r != nil {
		r.declined = true
	}
	return Result(declinedOut{Declined: true, Note: note})
}

// refusal is a failed call with kind and sentence msg, recorded for the
// call's log line.
func refusal(ctx context.Context, kind vendors.Kind, msg string) *mcp.CallToolResult {
	if r := recordFrom(ctx); r != nil {
		r.kind = string(kind)
	}
	return errorResult(ErrorBody{Error: msg, Kind: kind}, msg)
}

// lookupContext bounds the reads that build a question (recipient,
// template text) to a third of what is left of the call, at most 5 s,
// so the person keeps most of the call's time to answer.
func lookupContext(ctx context.Context) (context.Context, context.CancelFunc) {
	budget := 5 * time.Second
	if d, ok := ctx.Deadline(); ok {
		budget = min(budget, time.Until(d)/3)
	}
	return context.WithTimeout(ctx, budget)
}

// modern: the call's client speaks 2026-07-28 or later (multi round-trip
// requests) rather than taking server-initiated requests.
func modern(ctx context.Context) bool {
	return mcp.IsModernProtocol(server.RequestProtocolVersion(ctx))
}

// canElicit reports whether the person can be asked during this call: the
// client declared form elicitation (per request from 2026-07-28, at
// initialize before), and something can carry the question to it.
func canElicit(ctx context.Context) bool {
	if modern(ctx) {
		if info := server.RequestProtocolInfoFromContext(ctx); info != nil {
			return formElicitation(info.ClientCapabilities)
		}
		return false
	}
	if elicitorFrom(ctx) != nil {
		return true
	}
	s := server.ClientSessionFromContext(ctx)
	if _, ok := s.(server.SessionWithElicitation); !ok {
		return false
	}
	ci, ok := s.(server.SessionWithClientInfo)
	if !ok {
		return false
	}
	caps := ci.GetClientCapabilities()
	return formElicitation(&caps)
}

// formElicitation: the capabilities include form elicitation (an empty
// elicitation object means form, as before 2025-11-25 split the modes).
func formElicitation(caps *mcp.ClientCapabilities) bool {
	if caps == nil || caps.Elicitation == nil {
		return false
	}
	return caps.Elicitation.Form != nil || caps.Elicitation.URL == nil
}

// Elicitor asks the person through the transport that carries this call,
// where mcp-go's session cannot (stateless streamable HTTP before
// 2026-07-28). It returns the client's answer, or an error when none came
// before ctx ended.
type Elicitor func(ctx context.Context, p mcp.ElicitationParams) (*mcp.ElicitationResult, error)

type elicitorKey struct{}

// WithElicitor makes e carry this call's questions to its client.
func WithElicitor(ctx context.Context, e Elicitor) context.Context {
	return context.WithValue(ctx, elicitorKey{}, e)
}

func elicitorFrom(ctx context.Context) Elicitor {
	e, _ := ctx.Value(elicitorKey{}).(Elicitor)
	return e
}

// bridge answers, for a client before 2026-07-28, the input a handler asked
// for: it sends elicitation/create through the call's transport, waits
// within the call's deadline, and calls the handler again with the answer.
// (mcp-go's own bridge would wait without the call's deadline and, over
// stateless HTTP, for an answer it cannot receive.) A 2026-07-28 client
// gets the input_required result itself.
func bridge(ctx context.Context, next server.ToolHandlerFunc, req mcp.CallToolRequest, res *mcp.CallToolResult, err error) (*mcp.CallToolResult, error) {
	for round := 0; err == nil && res.NeedsInput() && !modern(ctx); round++ {
		if round == maxConfirmRounds {
			return refusal(ctx, vendors.KindConflict, "The confirmation was asked "+strconv.Itoa(round)+" times without an answer that holds for this call, so nothing was done. Call again."), nil
		}
		answers := mcp.InputResponses{}
		for id, ir := range res.InputRequests {
			if ir.Method != mcp.MethodElicitationCreate || ir.Elicitation == nil {
				return refusal(ctx, vendors.KindUnavailable, "internal error: the call asked for input this server cannot request ("+string(ir.Method)+"); nothing was done."), nil
			}
			r, e := elicit(ctx, *ir.Elicitation)
			if e != nil {
				return noAnswer(ctx, e), nil
			}
			answers[id] = mcp.NewElicitationInputResponse(*r)
		}
		retried := req
		retried.Params.MultiRoundTripParams = mcp.MultiRoundTripParams{InputResponses: answers, RequestState: res.RequestState}
		res, err = next(ctx, retried)
	}
	return res, err
}

// elicit sends one elicitation/create to the call's client and waits for
// the answer.
func elicit(ctx context.Context, p mcp.ElicitationParams) (*mcp.ElicitationResult, error) {
	if e := elicitorFrom(ctx); e != nil {
		return e(ctx, p)
	}
	s := server.ServerFromContext(ctx)
	if s == nil {
		return nil, errors.New("no server in the call's context")
	}
	r, err := s.RequestElicitation(ctx, mcp.ElicitationRequest{Request: mcp.Request{Method: string(mcp.MethodElicitationCreate)}, Params: p})
	if err == nil && r == nil {
		err = errors.New("the client sent no answer")
	}
	return r, err
}

// noAnswer is the result of a call whose question got no usable answer.
func noAnswer(ctx context.Context, err error) *mcp.CallToolResult {
	switch {
	case errors.Is(ctx.Err(), context.DeadlineExceeded) || errors.Is(err, context.DeadlineExceeded):
		return refusal(ctx, vendors.KindTimeout, "Nobody answered the confirmation before this call's deadline, so nothing was done. Call again to ask again.")
	case errors.Is(ctx.Err(), context.Canceled):
		return refusal(ctx, vendors.KindCancelled, "The call was cancelled while waiting for the person's confirmation; nothing was done.")
	}
	return refusal(ctx, vendors.KindUnavailable, "The confirmation could not be put to the person ("+brief(err)+"), so nothing was done. Call again to ask again.")
}

// brief is err's text cut to one short clause, for a question or a refusal.
func brief(err error) string {
	s := err.Error()
	if i := strings.Index(s, ". "); i > 0 {
		s = s[:i]
	}
	if r := []rune(s); len(r) > 160 {
		s = string(r[:160]) + "…"
	}
	return s
}

var placeholder = regexp.MustCompile(`\{\{\s*(\d+)\s*\}\}`)

// render fills a template body's {{1}}, {{2}}... with vars, as the vendor
// will; a placeholder without a value stays as it is.
func render(body string, vars []string) string {
	return placeholder.ReplaceAllStringFunc(body, func(m string) string {
		n, err := strconv.Atoi(placeholder.FindStringSubmatch(m)[1])
		if err != nil || n < 1 || n > len(vars) {
			return m
		}
		return vars[n-1]
	})
}

// person joins what is known of someone: name, phone, email.
func person(parts ...string) string {
	var out []string
	for _, p := range parts {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return strings.Join(out, ", ")
}
