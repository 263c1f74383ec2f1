package main

// What a request sends before its result comes before it. mcp-go v1.2.1
// queues notifications for a goroutine that copies them out, while a
// result is written by the call itself, so a result could overtake (and
// over /mcp drop) what came before it:
//
//   - a call's progress: written by the call itself, through notifierOn,
//     before it goes on (stdio, /mcp, /sse);
//   - a subscriptions/listen stream's acknowledgement (2026-07-28), which
//     must come first: when nothing could be established the call returns
//     at once (CI's conformance run saw the result first on /mcp; on stdio
//     it always came second). The transport puts in the request's context
//     how to wait until the acknowledgement is out, and
//     awaitAcknowledgement, a hook that runs before mcp-go writes the
//     result, waits: at most until the request ends or 5 s. Over /mcp a
//     listen request is its own response and the acknowledgement the
//     first thing queued on it, so its first write (http.go's
//     deadlineWriter) is the acknowledgement; over stdio the writer notes
//     each one by id (acks).

import (
	"context"
	"encoding/json"
	"sync"
	"time"

	"github.com/crm-mcp/crm-mcp/tools"
	"github.com/mark3labs/mcp-go/mcp"
)

// ackWait waits until the acknowledgement of the listen stream id was
// written, or ctx ends.
type ackWait func(ctx context.Context, id any)

type ackWaitKey struct{}

func withAckWait(ctx context.Context, w ackWait) context.Context {
	return context.WithValue(ctx, ackWaitKey{}, w)
}

// awaitAcknowledgement holds a listen call's result until its
// acknowledgement is out.
func awaitAcknowledgement(ctx context.Context, id any, _ *mcp.SubscriptionsListenRequest, _ *mcp.SubscriptionsListenResult) {
	wait, ok := ctx.Value(ackWaitKey{}).(ackWait)
	if !ok {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	wait(ctx, id)
}

// acks is stdio's part: every stream shares stdout, so the writer notes
// each acknowledgement it writes, by subscription id (the listen request's
// id, as JSON), and a listen call waits for its own.
type acks struct {
	mu      sync.Mutex
	written map[string]bool          // written, not yet waited for
	waiting map[string]chan struct{} // waited for, not yet written
}

func newAcks() *acks {
	return &acks{written: map[string]bool{}, waiting: map[string]chan struct{}{}}
}

// wrote records that the acknowledgement of stream id (JSON) is out.
func (a *acks) wrote(id string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if ch, ok := a.waiting[id]; ok {
		close(ch)
		delete(a.waiting, id)
		return
	}
	a.written[id] = true
}

// wait is an ackWait.
func (a *acks) wait(ctx context.Context, id any) {
	b, err := json.Marshal(id) // as mcp-go writes it in the acknowledgement
	if err != nil {
		return
	}
	key := string(b)
	a.mu.Lock()
	if a.written[key] {
		delete(a.written, key)
		a.mu.Unlock()
		return
	}
	ch, ok := a.waiting[key]
	if !ok {
		ch = make(chan struct{})
		a.waiting[key] = ch
	}
	a.mu.Unlock()
	select {
	case <-ch:
	case <-ctx.Done():
		a.mu.Lock()
		if a.waiting[key] == ch {
			delete(a.waiting, key)
		}
		a.mu.Unlock()
	}
}

// notifierOn writes a call's notifications (its progress) with write before
// the call goes on. Left to mcp-go, they are queued for another goroutine,
// and the call's result could overtake them: over /mcp the last progress
// was dropped, over /sse it came after the result.
func notifierOn(write func([]byte) error) tools.Notifier {
	return func(method string, params map[string]any) {
		if b, err := json.Marshal(map[string]any{"jsonrpc": "2.0", "method": method, "params": params}); err == nil {
			_ = write(b)
		}
	}
}
