package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"sync"
	"time"

	"github.com/crm-mcp/crm-mcp/tools"
	"github.com/mark3labs/mcp-go/mcp"
	"github.com/mark3labs/mcp-go/server"
)

// serveStdio serves one client on stdin/stdout. When stdin ends (a client
// that pipes its requests and closes, e.g. a script), the requests already
// read are answered before the server stops: mcp-go would otherwise cancel
// them at EOF and their results would be lost.
func serveStdio(ctx context.Context, a *app, stdin io.Reader, stdout io.Writer) error {
	t := &pending{ids: map[string]bool{}, cancelled: map[string]bool{}}
	in, out := t.reader(stdin, a.cfg.ShutdownGrace, a.log), &responseWriter{w: stdout, t: t, acks: newAcks()}
	s := server.NewStdioServer(a.mcp)
	s.SetErrorLogger(slog.NewLogLogger(a.log.Handler(), slog.LevelError))
	s.SetContextFunc(func(ctx context.Context) context.Context {
		return withAckWait(tools.WithNotifier(ctx, notifierOn(out.line)), out.acks.wait)
	})
	err := s.Listen(ctx, in, out)
	if err == nil || errors.Is(err, context.Canceled) || errors.Is(err, io.EOF) {
		return nil
	}
	return err
}

// pending tracks the ids of requests read and not yet answered, and those
// the client cancelled: a cancelled request gets no answer (the spec's
// rule; mcp-go would still write one).
type pending struct {
	mu        sync.Mutex
	ids       map[string]bool
	cancelled map[string]bool
}

type rpcID struct {
	ID     json.RawMessage `json:"id"`
	Method string          `json:"method"`
	Params struct {
		RequestID json.RawMessage `json:"requestId"`
		Meta      struct {
			SubscriptionID json.RawMessage `json:"io.modelcontextprotocol/subscriptionId"`
		} `json:"_meta"`
	} `json:"params"`
}

// reader copies stdin line by line, noting request ids; at EOF it waits
// (at most grace) until every request read has been answered.
func (t *pending) reader(stdin io.Reader, grace time.Duration, log *slog.Logger) io.Reader {
	pr, pw := io.Pipe()
	go func() {
		br := bufio.NewReaderSize(stdin, 64<<10)
		for {
			line, err := br.ReadBytes('\n')
			if len(line) > 0 {
				var m rpcID
				if json.Unmarshal(line, &m) == nil && m.Method != "" {
					t.mu.Lock()
					switch {
					case len(m.ID) > 0:
						t.ids[string(m.ID)] = true
					case m.Method == "notifications/cancelled" && t.ids[string(m.Params.RequestID)]:
						t.cancelled[string(m.Params.RequestID)] = true
					}
					t.mu.Unlock()
				}
				if _, werr := pw.Write(line); werr != nil {
					return
				}
			}
			if err != nil {
				if n := t.drain(grace); n > 0 {
					log.Warn("stdin closed; stopping with requests unanswered", "pending", n)
				}
				_ = pw.CloseWithError(err)
				return
			}
		}
	}()
	return pr
}

// drain waits until no request is pending, or grace has passed; it returns
// how many are still pending.
func (t *pending) drain(grace time.Duration) int {
	deadline := time.Now().Add(grace)
	for {
		t.mu.Lock()
		n := len(t.ids)
		t.mu.Unlock()
		if n == 0 || time.Now().After(deadline) {
			return n
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// responseWriter passes stdout through, crossing off the ids it answers
// and noting the listen streams it acknowledges (listen.go).
type responseWriter struct {
	mu   sync.Mutex
	w    io.Writer
	t    *pending
	acks *acks
	buf  []byte
}

// Write takes whole lines (mcp-go writes one message per call) and drops
// the answer to a request the client cancelled.
func (r *responseWriter) Write(p []byte) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.buf = append(r.buf, p...)
	for {
		i := bytes.IndexByte(r.buf, '\n')
		if i < 0 {
			break
		}
		line := r.buf[:i+1]
		var m rpcID
		if json.Unmarshal(line, &m) == nil && m.Method == "" && len(m.ID) > 0 {
			r.t.mu.Lock()
			drop := r.t.cancelled[string(m.ID)]
			delete(r.t.ids, string(m.ID))
			delete(r.t.cancelled, string(m.ID))
			r.t.mu.Unlock()
			if drop {
				r.buf = r.buf[i+1:]
				continue
			}
		}
		if _, err := r.w.Write(line); err != nil {
			return 0, err
		}
		if m.Method == mcp.MethodNotificationSubscriptionsAcknowledged {
			r.acks.wrote(string(m.Params.Meta.SubscriptionID))
		}
		r.buf = r.buf[i+1:]
	}
	return len(p), nil
}

// line writes one message at once, in order with the answers.
func (r *responseWriter) line(b []byte) error {
	_, err := r.Write(append(b, '\n'))
	return err
}
