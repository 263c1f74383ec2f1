package main

// A subscriptions/listen stream (2026-07-28) begins with its
// acknowledgement, as the protocol requires. mcp-go v1.2.1 queues the
// acknowledgement for a goroutine that copies notifications out, while the
// listen call's result is written by the call itself. When nothing the
// client asked for can be established, the call returns at once and its
// result overtakes the acknowledgement: over /mcp the acknowledgement was
// then dropped (the conformance suite's CI run saw the result first), over
// stdio it always came after the result.
//
// So the transport tells the listen call how to wait until the
// acknowledgement is out (a function in the request's context), and
// awaitAcknowledgement, a hook that runs before mcp-go writes the result,
// waits for it: at most until the request ends or 5 s.

import (
	"context"
	"encoding/json"
	"net/http"
	"sync"
	"time"

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

// acknowledgeFirst is /mcp's part: a listen request is its own response,
// and the acknowledgement is the first thing queued on it, so the first
// write to the response is the acknowledgement.
func acknowledgeFirst(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// mcp-go refuses a 2026-07-28 request whose Mcp-Method header does
		// not name the body's method, so the header is enough here.
		if r.Method != http.MethodPost || r.Header.Get("Mcp-Method") != string(mcp.MethodSubscriptionsListen) {
			next.ServeHTTP(w, r)
			return
		}
		fw := &firstWrite{ResponseWriter: w, wrote: make(chan struct{})}
		wait := func(ctx context.Context, _ any) {
			select {
			case <-fw.wrote:
			case <-ctx.Done():
			}
		}
		next.ServeHTTP(fw, r.WithContext(withAckWait(r.Context(), wait)))
	})
}

// firstWrite closes wrote once something was written to the response.
type firstWrite struct {
	http.ResponseWriter
	once  sync.Once
	wrote chan struct{}
}

func (f *firstWrite) Write(p []byte) (int, error) {
	n, err := f.ResponseWriter.Write(p)
	f.once.Do(func() { close(f.wrote) })
	return n, err
}

func (f *firstWrite) Flush() { _ = http.NewResponseController(f.ResponseWriter).Flush() }

func (f *firstWrite) Unwrap() http.ResponseWriter { return f.ResponseWriter }

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
