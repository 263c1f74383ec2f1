package main

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mark3labs/mcp-go/mcp"
	"github.com/mark3labs/mcp-go/server"
)

// handler is the one HTTP face: streamable HTTP at /mcp, legacy SSE at
// /sse (+ /message), /healthz, /metrics, and in --sandbox the emulators
// under /sandbox/<vendor>/; all behind guard.
func (a *app) handler(ready *atomic.Bool) (http.Handler, func(context.Context) error) {
	// /mcp keeps no per-session state (no Mcp-Session-Id is issued or
	// required), so any replica answers any request.
	streamable := server.NewStreamableHTTPServer(a.mcp, server.WithStateLess(true), server.WithStreamableHTTPLogger(a.log),
		server.WithHTTPContextFunc(withRequestHeaders))
	sessions := newSSESessions(a.cfg, a.log, a.confirms)
	sse := server.NewSSEServer(a.mcp, server.WithKeepAlive(true), server.WithKeepAliveInterval(15*time.Second),
		server.WithSSEContextFunc(withRequestHeaders), server.WithSessionIDGenerator(sessions.newID))
	mux := http.NewServeMux()
	mux.Handle("/mcp", a.writeDeadlines(a.checkNarrowing(a.confirms.wrap(streamable))))
	mux.Handle("/sse", a.checkNarrowing(sessions.stream(sse.SSEHandler())))
	mux.Handle("/message", a.checkNarrowing(sessions.message(sse.MessageHandler())))
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, r *http.Request) {
		if !ready.Load() {
			http.Error(w, "starting", http.StatusServiceUnavailable)
			return
		}
		w.Header().Set("Content-Type", "text/plain")
		_, _ = w.Write([]byte("ok\n"))
	})
	mux.Handle("/metrics", a.metrics.handler())
	a.mountWebhooks(mux) // POST /webhooks/<vendor>..., each only when its secret is set
	for name, h := range a.emulators {
		prefix := "/sandbox/" + name
		mux.Handle(prefix+"/", http.StripPrefix(prefix, h))
	}
	closeStreams := func(ctx context.Context) error {
		sse.CloseSessions()
		streamable.CloseSessions(ctx)
		return nil
	}
	return a.guard(mux), closeStreams
}

// Before 2026-07-28, resources/subscribe needs a session to be notified
// on, and /mcp keeps none: a subscription there would be acknowledged and
// never notified. So initialize over /mcp does not offer it, and a
// resources/subscribe there is refused with what to do instead. (stdio and
// /sse keep sessions and offer it; 2026-07-28 clients use
// subscriptions/listen, also over /mcp.)

// noSubscribeWithoutSession is the initialize hook: mcp-go's streamable
// HTTP sessions are the only ones that can upgrade a response to SSE.
func noSubscribeWithoutSession(ctx context.Context, _ any, _ *mcp.InitializeRequest, res *mcp.InitializeResult) {
	if _, overMCP := server.ClientSessionFromContext(ctx).(server.SessionWithStreamableHTTPConfig); !overMCP || res.Capabilities.Resources == nil {
		return
	}
	rs := *res.Capabilities.Resources // the server's own capabilities are shared
	rs.Subscribe = false
	res.Capabilities.Resources = &rs
}

// refuseSubscribe answers a resources/subscribe over /mcp before 2026-07-28.
func refuseSubscribe(w http.ResponseWriter, id json.RawMessage) {
	if len(id) == 0 {
		id = json.RawMessage("null")
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]any{"jsonrpc": "2.0", "id": id, "error": map[string]any{
		"code": mcp.METHOD_NOT_FOUND,
		"message": "resources/subscribe is not available on /mcp before protocol 2026-07-28: /mcp keeps no session to notify. " +
			"Use subscriptions/listen (2026-07-28), connect over /sse or stdio, or poll crm_list_events (it says when to call again in next_poll_ms)",
	}})
}

// writeDeadlines bounds each write of a /mcp response (a result, a call's
// progress, a listen stream's notifications) by timeout. A client that
// stops reading would otherwise keep the handler blocked in Write, holding
// a goroutine and a connection slot for as long as it keeps the connection
// open. Each write gets a fresh deadline, so a stream quiet for hours is
// not cut; a write that times out ends the request (a listen stream would
// otherwise wait on), net/http then closes the connection, and a warning
// says so (at most one per 10 s: a flood of stalled clients is not a
// flood of lines).
func (a *app) writeDeadlines(next http.Handler) http.Handler {
	timeout, warn := a.cfg.writeTimeout(), &rateLimit{every: 10 * time.Second}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		dw := &deadlineWriter{ResponseWriter: w, rc: http.NewResponseController(w), timeout: timeout, fail: func() {}}
		// mcp-go refuses a 2026-07-28 request whose Mcp-Method header does
		// not name the body's method, so the header is enough here.
		if r.Header.Get("Mcp-Method") == string(mcp.MethodSubscriptionsListen) {
			// Only a listen stream waits on after a failed write (a call
			// returns by itself, and its result's write fails too). Its
			// acknowledgement is the first thing written (listen.go).
			ctx, cancel := context.WithCancel(r.Context())
			defer cancel()
			dw.fail, dw.wrote = cancel, make(chan struct{})
			r = r.WithContext(withAckWait(ctx, func(ctx context.Context, _ any) {
				select {
				case <-dw.wrote:
				case <-ctx.Done():
				}
			}))
		}
		next.ServeHTTP(dw, r)
		dw.arm() // net/http's own last write (the end of the body) follows
		if errors.Is(dw.err, os.ErrDeadlineExceeded) && warn.allow(time.Now()) {
			a.log.Warn("dropped a /mcp client: it is not reading its response", "write_timeout", timeout, "remote", r.RemoteAddr)
		}
	})
}

// deadlineWriter gives every write a fresh deadline.
type deadlineWriter struct {
	http.ResponseWriter
	rc      *http.ResponseController
	timeout time.Duration
	fail    context.CancelFunc
	err     error         // the first failed write's
	wrote   chan struct{} // closed by the first write (listen streams only)
	once    sync.Once
}

func (d *deadlineWriter) arm() { _ = d.rc.SetWriteDeadline(time.Now().Add(d.timeout)) }

func (d *deadlineWriter) failed(err error) {
	if d.err == nil {
		d.err = err
	}
	d.fail()
}

func (d *deadlineWriter) Write(p []byte) (int, error) {
	d.arm()
	n, err := d.ResponseWriter.Write(p)
	if err != nil {
		d.failed(err)
	}
	if d.wrote != nil {
		d.once.Do(func() { close(d.wrote) })
	}
	return n, err
}

func (d *deadlineWriter) Flush() {
	d.arm()
	if err := d.rc.Flush(); err != nil {
		d.failed(err)
	}
}

func (d *deadlineWriter) Unwrap() http.ResponseWriter { return d.ResponseWriter }

// serveHTTP listens on addr until ctx ends, then shuts down gracefully:
// stop accepting, let in-flight calls finish (bounded), close SSE streams.
func serveHTTP(ctx context.Context, a *app, addr string) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	return a.serveListener(ctx, ln)
}

// serveListener serves on ln with the limits of listener.go: timeouts,
// bounded headers and a cap on open connections.
func (a *app) serveListener(ctx context.Context, ln net.Listener) error {
	var ready atomic.Bool
	h, closeStreams := a.handler(&ready)
	srv := a.newServer(h)
	ln = a.limitListener(ln, srv)
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	ready.Store(true)
	a.log.Info("listening", "addr", ln.Addr().String(), "mcp", "/mcp", "sse", "/sse", "health", "/healthz",
		"max_connections", a.cfg.MaxConnections, "idle_timeout", a.cfg.IdleTimeout, "read_timeout", a.cfg.ReadTimeout)
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	ready.Store(false)
	a.log.Info("shutting down: finishing in-flight calls")
	sctx, cancel := context.WithTimeout(context.Background(), a.cfg.ShutdownGrace)
	defer cancel()
	srv.RegisterOnShutdown(func() { _ = closeStreams(sctx) })
	err := srv.Shutdown(sctx)
	if errors.Is(err, context.DeadlineExceeded) {
		a.log.Warn("shutdown grace ran out; closing remaining connections")
		_ = srv.Close()
	}
	if e := <-errc; e != nil && !errors.Is(e, http.ErrServerClosed) {
		return e
	}
	return nil
}
