package main

import (
	"log/slog"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/net/netutil"
)

// maxHeaderBytes bounds a request's headers: bearer tokens, vendor keys and
// OAuth JWTs fit many times over; net/http's default (1 MB) is absurd. It
// is above the 8 KB a token may have, so an oversized token still gets the
// OAuth answer (401 invalid_token) rather than a bare 431.
const maxHeaderBytes = 128 << 10

// writeTimeout is how long one write to an HTTP client may wait (10 s
// unless set).
func (c Config) writeTimeout() time.Duration {
	if c.WriteTimeout > 0 {
		return c.WriteTimeout
	}
	return 10 * time.Second
}

// newServer is the http.Server of the HTTP face, with every timeout a
// hostile client could otherwise hold a connection open through.
func (a *app) newServer(h http.Handler) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		// ReadTimeout bounds reading the request (slow bodies). net/http
		// clears the read deadline once the body is read, so /sse streams
		// and slow tool calls outlive it (TestStreamsOutliveReadTimeout).
		ReadTimeout:    a.cfg.ReadTimeout,
		IdleTimeout:    a.cfg.IdleTimeout,
		MaxHeaderBytes: maxHeaderBytes,
		// net/http's own complaints (accept errors such as EMFILE, bad
		// handshakes) follow LOG_FORMAT and redaction like every other line.
		ErrorLog: slog.NewLogLogger(a.log.Handler(), slog.LevelWarn),
	}
}

// capListener caps open connections (netutil.LimitListener: beyond the cap,
// new connections wait in the kernel's backlog). At the cap it says so, at
// most once per 10 s, and stops keep-alive, closing idle connections, so a
// flood of idle keep-alives cannot lock real callers out until IdleTimeout.
type capListener struct {
	net.Listener
	max  int64
	open atomic.Int64
	srv  *http.Server
	log  *slog.Logger
	warn rateLimit
}

func (a *app) limitListener(ln net.Listener, srv *http.Server) net.Listener {
	n := a.cfg.MaxConnections
	return &capListener{Listener: netutil.LimitListener(ln, n), max: int64(n), srv: srv, log: a.log, warn: rateLimit{every: 10 * time.Second}}
}

func (l *capListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	if n := l.open.Add(1); n >= l.max {
		if l.warn.allow(time.Now()) {
			l.log.Warn("connection cap reached: new connections wait until one closes; closing idle keep-alive connections",
				"open", n, "cap", l.max, "env", "CRM_MCP_MAX_CONNECTIONS")
		}
		l.srv.SetKeepAlivesEnabled(false)
	}
	return &cappedConn{Conn: c, l: l}, nil
}

type cappedConn struct {
	net.Conn
	l    *capListener
	once sync.Once
}

func (c *cappedConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(func() {
		// Keep-alive comes back once half the slots are free again.
		if c.l.open.Add(-1) <= c.l.max/2 {
			c.l.srv.SetKeepAlivesEnabled(true)
		}
	})
	return err
}

// rateLimit lets one event through per period, so a sustained condition
// logs a line every so often instead of one per connection.
type rateLimit struct {
	every time.Duration
	mu    sync.Mutex
	last  time.Time
}

func (r *rateLimit) allow(now time.Time) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.last.IsZero() && now.Sub(r.last) < r.every {
		return false
	}
	r.last = now
	return true
}
