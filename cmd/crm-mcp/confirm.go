package main

// Sends a person confirms, over the transports (tools/confirm.go asks).
//
// 2026-07-28 clients answer a question by retrying the call (multi
// round-trip), which needs nothing here but a key every replica shares to
// sign the questions' request states. Over stdio, mcp-go's session carries
// elicitation/create to 2025-x clients and their answers back. mcp-go's
// legacy SSE sessions take no server requests at all: sseMessage puts the
// question on the session's stream and takes the answer from /message.
// Over /mcp, which is stateless, mcp-go cannot either: a 2025-x client declares
// elicitation in an initialize request the server forgets, and when mcp-go
// writes elicitation/create on the call's SSE stream the client's answer
// arrives as a new POST, which mcp-go refuses ("missing session ID", 400)
// and would route only within one process anyway, so the call waits for
// nothing. Here, then:
//
//   - a 2025-x initialize that declares form elicitation is answered with
//     an Mcp-Session-Id that records only that (crm-mcp-elicit-<random>);
//     nothing is kept, any replica reads it, and it is taken off each
//     request before mcp-go sees it, so /mcp stays stateless;
//   - a tools/call carrying it gets an Elicitor: the question goes out on
//     the call's own response as an SSE event, with a JSON-RPC id naming
//     this replica; the client's answer (a POST of a JSON-RPC response) is
//     taken here, checked to come from the caller who was asked, and handed
//     to the waiting call, through Redis (PUBLISH to the asking replica)
//     when another replica received it;
//   - GET and DELETE on /mcp answer 405: there is no standalone stream and
//     no session to end. (mcp-go would otherwise open a stream under the
//     empty session id whose holder receives every other caller's
//     notifications.)

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"

	"github.com/mark3labs/mcp-go/mcp"
	"github.com/redis/go-redis/v9"

	"github.com/crm-mcp/crm-mcp/tools"
)

const (
	// elicitMarker begins the Mcp-Session-Id of a 2025-x client that
	// declared form elicitation.
	elicitMarker = "crm-mcp-elicit-"
	// questionPrefix begins the JSON-RPC id of a question put over /mcp:
	// crm-mcp-confirm.<replica>.<random>.
	questionPrefix = "crm-mcp-confirm."
	// maxWaiting bounds the questions one process waits on.
	maxWaiting = 4096
	// replicaLen is the length of a replica's name in question ids.
	replicaLen = 13
)

// confirmSecretKey holds, in Redis, the key every replica signs request
// states with: created once (SET NX), never sent anywhere.
const confirmSecretKey = "crm-mcp:confirm:secret"

// confirmations routes the answers to questions put over /mcp.
type confirmations struct {
	log     *slog.Logger
	replica string        // this process, in question ids
	rdb     *redis.Client // nil: answers reach this process only
	mu      sync.Mutex
	waiting map[string]*question
}

// question is a call waiting for the person's answer.
type question struct {
	caller [32]byte       // who was asked: only they may answer
	answer chan rpcAnswer // buffered: the first answer wins
}

// rpcAnswer is a JSON-RPC response to a question.
type rpcAnswer struct {
	Result json.RawMessage `json:"result,omitempty"`
	Error  *struct {
		Code    int    `json:"code"`
		Message string `json:"message"`
	} `json:"error,omitempty"`
}

// relayed is an answer one replica passes to the one that asked.
type relayed struct {
	ID     string    `json:"id"`
	Caller string    `json:"caller"`
	Answer rpcAnswer `json:"answer"`
}

// setUpConfirmations returns the key that signs request states (shared
// through Redis when there is one) and prepares /mcp's questions.
func (a *app) setUpConfirmations(ctx context.Context, rdb *redis.Client) ([]byte, error) {
	c := &confirmations{log: a.log, replica: strings.ToLower(rand.Text()[:replicaLen]), waiting: map[string]*question{}}
	a.confirms = c
	if rdb == nil {
		return nil, nil // tools makes a key of this process's own
	}
	secret := rand.Text() + rand.Text()
	if err := rdb.SetNX(ctx, confirmSecretKey, secret, 0).Err(); err != nil {
		return nil, fmt.Errorf("REDIS_URL: cannot share the confirmation key: %w", err)
	}
	shared, err := rdb.Get(ctx, confirmSecretKey).Bytes()
	if err != nil {
		return nil, fmt.Errorf("REDIS_URL: cannot read the confirmation key: %w", err)
	}
	if a.cfg.Transport != "http" {
		return shared, nil // stdio: no answers to relay
	}
	c.rdb = rdb
	ps := rdb.Subscribe(ctx, c.channel(c.replica))
	if _, err := ps.Receive(ctx); err != nil {
		_ = ps.Close()
		return nil, fmt.Errorf("REDIS_URL: cannot subscribe to confirmation answers: %w", err)
	}
	go func() {
		for m := range ps.Channel() {
			var r relayed
			if json.Unmarshal([]byte(m.Payload), &r) != nil {
				continue
			}
			caller, err := hex.DecodeString(r.Caller)
			if err != nil || len(caller) != 32 {
				continue
			}
			c.deliver(r.ID, [32]byte(caller), r.Answer)
		}
	}()
	prev := a.close
	a.close = func() {
		_ = ps.Close()
		prev()
	}
	return shared, nil
}

func (c *confirmations) channel(replica string) string { return "crm-mcp:confirm:" + replica }

// wrap puts the confirmations in front of mcp-go's /mcp handler.
func (c *confirmations) wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.Method {
		case http.MethodPost:
		case http.MethodGet, http.MethodDelete:
			w.Header().Set("Allow", http.MethodPost)
			http.Error(w, "method not allowed: /mcp keeps no session, so it has no stream to open and none to end; POST requests", http.StatusMethodNotAllowed)
			return
		default:
			next.ServeHTTP(w, r)
			return
		}
		msg := peeked(r)
		elicits := strings.HasPrefix(r.Header.Get("Mcp-Session-Id"), elicitMarker)
		if elicits {
			r.Header.Del("Mcp-Session-Id") // what it says is read; mcp-go stays stateless
		}
		switch {
		case msg.answers() != "":
			c.answer(w, r, msg)
			return
		case msg.Method == string(mcp.MethodResourcesSubscribe) && !mcp.IsModernProtocol(r.Header.Get("MCP-Protocol-Version")):
			refuseSubscribe(w, msg.ID)
			return
		case msg.Method == string(mcp.MethodInitialize) && msg.declaresElicitation():
			w.Header().Set("Mcp-Session-Id", elicitMarker+rand.Text())
		case msg.Method == string(mcp.MethodToolsCall) && (elicits || msg.wantsProgress()):
			// The call's progress, and its questions, go out on its own
			// response before its result (sseWriter frames the result as
			// an event once the response became a stream).
			sw := &sseWriter{w: w, rc: http.NewResponseController(w)}
			ctx := tools.WithNotifier(r.Context(), notifierOn(sw.event))
			if elicits {
				ctx = tools.WithElicitor(ctx, c.elicitor(sw.event, callerOf(r)))
			}
			r, w = r.WithContext(ctx), sw
		}
		next.ServeHTTP(w, r)
	})
}

// sseMessage is the same for a POST to /message of a legacy SSE session
// (mcp-go's SSE sessions cannot put questions): an answer is taken here;
// an initialize declaring elicitation marks the session; a tools/call of a
// marked session gets an Elicitor that queues its question on the
// session's stream. It reports whether it answered r itself.
func (c *confirmations) sseMessage(w http.ResponseWriter, r *http.Request, e *sseEntry) (*http.Request, bool) {
	msg := peeked(r)
	switch {
	case msg.answers() != "":
		c.answer(w, r, msg)
		return r, true
	case msg.Method == string(mcp.MethodInitialize):
		e.elicits.Store(msg.declaresElicitation())
	case msg.Method == string(mcp.MethodToolsCall) && (e.elicits.Load() || msg.wantsProgress()):
		write := func(data []byte) error { return writeEvent(e.stream, data) }
		ctx := tools.WithNotifier(r.Context(), notifierOn(write))
		if e.elicits.Load() {
			ctx = tools.WithElicitor(ctx, c.elicitor(write, callerOf(r)))
		}
		r = r.WithContext(ctx)
	}
	return r, false
}

// answers is the question id a JSON-RPC response answers, "" if it is not
// an answer to one of ours.
func (m rpcPeek) answers() string {
	var id string
	if m.Method != "" || m.Result == nil && m.Error == nil || json.Unmarshal(m.ID, &id) != nil || !strings.HasPrefix(id, questionPrefix) {
		return ""
	}
	return id
}

// declaresElicitation: initialize's capabilities.elicitation includes
// form mode (an empty object does: it predates the modes).
func (m rpcPeek) declaresElicitation() bool {
	var e map[string]json.RawMessage
	if raw := m.Params.Capabilities.Elicitation; len(raw) == 0 || json.Unmarshal(raw, &e) != nil || e == nil {
		return false
	}
	_, form := e["form"]
	_, url := e["url"]
	return form || !url
}

// elicitor puts a call's questions on its SSE stream (emit) and waits for
// the answer, at most until ctx (the call's deadline) ends.
func (c *confirmations) elicitor(emit func([]byte) error, caller [32]byte) tools.Elicitor {
	return func(ctx context.Context, p mcp.ElicitationParams) (*mcp.ElicitationResult, error) {
		id := questionPrefix + c.replica + "." + rand.Text()
		q := &question{caller: caller, answer: make(chan rpcAnswer, 1)}
		c.mu.Lock()
		if len(c.waiting) >= maxWaiting {
			c.mu.Unlock()
			return nil, errors.New("too many questions are waiting for an answer on this server")
		}
		c.waiting[id] = q
		c.mu.Unlock()
		defer func() { c.mu.Lock(); delete(c.waiting, id); c.mu.Unlock() }()
		req, err := json.Marshal(map[string]any{"jsonrpc": mcp.JSONRPC_VERSION, "id": id, "method": mcp.MethodElicitationCreate, "params": p})
		if err != nil {
			return nil, err
		}
		if err := emit(req); err != nil {
			return nil, err
		}
		select {
		case a := <-q.answer:
			if a.Error != nil {
				return nil, fmt.Errorf("the client answered error %d: %s", a.Error.Code, a.Error.Message)
			}
			var r mcp.ElicitationResult
			if err := json.Unmarshal(a.Result, &r); err != nil {
				return nil, fmt.Errorf("the client's answer is not an elicitation result: %w", err)
			}
			return &r, nil
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

// answer takes a client's answer to a question: here if this process asked
// it, else relayed to the replica that did. 202 once handed on; 400 when
// no question with that id waits for this caller.
func (c *confirmations) answer(w http.ResponseWriter, r *http.Request, msg rpcPeek) {
	id, a := msg.answers(), rpcAnswer{Result: msg.Result}
	if msg.Error != nil {
		_ = json.Unmarshal(msg.Error, &a.Error)
	}
	caller := callerOf(r)
	if c.deliver(id, caller, a) {
		w.WriteHeader(http.StatusAccepted)
		return
	}
	replica, _, _ := strings.Cut(strings.TrimPrefix(id, questionPrefix), ".")
	if c.rdb != nil && replica != c.replica && len(replica) == replicaLen {
		msg, _ := json.Marshal(relayed{ID: id, Caller: hex.EncodeToString(caller[:]), Answer: a})
		if n, err := c.rdb.Publish(r.Context(), c.channel(replica), msg).Result(); err == nil && n > 0 {
			w.WriteHeader(http.StatusAccepted)
			return
		} else if err != nil {
			c.log.Warn("could not relay a confirmation answer to its replica", "error", err)
		}
	}
	http.Error(w, "bad request: no question with this id is waiting for your answer (it was answered, or its call ended)", http.StatusBadRequest)
}

// deliver hands an answer to the call waiting for it, if the caller is the
// one who was asked.
func (c *confirmations) deliver(id string, caller [32]byte, a rpcAnswer) bool {
	c.mu.Lock()
	q := c.waiting[id]
	c.mu.Unlock()
	if q == nil || q.caller != caller {
		return false
	}
	select {
	case q.answer <- a:
		return true
	default:
		return false // answered already
	}
}

// sseWriter lets a call put a question on its own response: it turns the
// response into an SSE stream if mcp-go has not (and then frames mcp-go's
// JSON answer as an event), and serialises every write.
type sseWriter struct {
	mu    sync.Mutex
	w     http.ResponseWriter
	rc    *http.ResponseController
	wrote bool // the status and headers are out
	sse   bool // as an event stream
	ours  bool // which this writer started
}

func (s *sseWriter) Header() http.Header { return s.w.Header() }

func (s *sseWriter) WriteHeader(code int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.writeHeader(code)
}

func (s *sseWriter) writeHeader(code int) {
	if s.wrote {
		return
	}
	s.wrote = true
	s.sse = strings.HasPrefix(s.w.Header().Get("Content-Type"), "text/event-stream")
	s.w.WriteHeader(code)
}

func (s *sseWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.writeHeader(http.StatusOK)
	if s.ours && len(p) > 0 && p[0] == '{' { // mcp-go's answer, written as JSON
		return len(p), writeEvent(s.w, bytes.TrimSpace(p))
	}
	return s.w.Write(p)
}

func (s *sseWriter) Flush() {
	s.mu.Lock()
	defer s.mu.Unlock()
	_ = s.rc.Flush()
}

func (s *sseWriter) Unwrap() http.ResponseWriter { return s.w }

// event writes one SSE event carrying data, now.
func (s *sseWriter) event(data []byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.wrote {
		h := s.w.Header()
		h.Set("Content-Type", "text/event-stream")
		h.Set("Cache-Control", "no-cache")
		h.Del("Content-Length")
		s.ours = true
		s.writeHeader(http.StatusOK)
	} else if !s.sse {
		return errors.New("the call's response was already sent")
	}
	if err := writeEvent(s.w, data); err != nil {
		return err
	}
	return s.rc.Flush()
}

// writeEvent writes one JSON-RPC message as an SSE event, as mcp-go does.
func writeEvent(w io.Writer, data []byte) error {
	_, err := fmt.Fprintf(w, "event: message\ndata: %s\n\n", data)
	return err
}
