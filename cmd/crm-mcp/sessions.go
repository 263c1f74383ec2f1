package main

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"errors"
	"log/slog"
	"net/http"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

// Legacy SSE (/sse + /message) as mcp-go serves it trusts whoever knows a
// session id, and blocks on a client that stops reading: its handler
// goroutine sits in Write with no deadline, its 100-event queue fills, and
// then every POSTed call parks a goroutine holding its response until the
// stream ends (notifications beyond its 100-slot channel are dropped). So
// the wrappers here bind each session to the identity that opened it, and
// put a bounded queue and a per-write deadline between mcp-go and the
// connection: a client that does not keep up loses its session.

var (
	errQueueFull    = errors.New("SSE client is not reading: its outbound queue is full")
	errStreamClosed = errors.New("SSE stream closed")
)

// sseSessions maps live session ids to who opened them. An entry lives as
// long as its /sse handler, so the map is bounded by open connections.
type sseSessions struct {
	log          *slog.Logger
	writeTimeout time.Duration
	queue        int
	mu           sync.Mutex
	m            map[string]*sseEntry
	confirms     *confirmations // puts sends' questions to the person (confirm.go)
	warn         rateLimit      // a flood of stalled clients is not a flood of lines
}

type sseEntry struct {
	identity [32]byte
	stream   *sseStream
	elicits  atomic.Bool // the client declared form elicitation (confirm.go)
}

type sseEntryKey struct{}

func newSSESessions(cfg Config, log *slog.Logger, confirms *confirmations) *sseSessions {
	s := &sseSessions{log: log, writeTimeout: cfg.writeTimeout(), queue: cfg.SSEQueue, m: map[string]*sseEntry{},
		confirms: confirms, warn: rateLimit{every: 10 * time.Second}}
	if s.queue <= 0 {
		s.queue = 64
	}
	return s
}

// newID is mcp-go's session id generator: called inside the /sse handler
// below, it names the session and records who opened it.
func (s *sseSessions) newID(ctx context.Context, _ *http.Request) (string, error) {
	e, ok := ctx.Value(sseEntryKey{}).(*sseEntry)
	if !ok {
		return "", errors.New("SSE session outside its stream handler")
	}
	id := rand.Text()
	s.mu.Lock()
	s.m[id] = e
	s.mu.Unlock()
	context.AfterFunc(ctx, func() { s.mu.Lock(); delete(s.m, id); s.mu.Unlock() })
	return id, nil
}

// stream wraps mcp-go's /sse handler.
func (s *sseSessions) stream(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithCancel(r.Context())
		defer cancel() // also forgets the session (newID's AfterFunc)
		st := &sseStream{w: w, rc: http.NewResponseController(w), timeout: s.writeTimeout,
			queue: make(chan []byte, s.queue), stop: cancel, ended: make(chan struct{})}
		defer func() {
			switch err := st.end(); {
			case (errors.Is(err, errQueueFull) || errors.Is(err, os.ErrDeadlineExceeded)) && s.warn.allow(time.Now()):
				s.log.Warn("dropped an SSE session: the client is not reading its stream", "reason", err.Error(), "remote", r.RemoteAddr)
			case !errors.Is(err, errStreamClosed):
				s.log.Debug("SSE stream ended", "reason", err.Error(), "remote", r.RemoteAddr)
			}
		}()
		e := &sseEntry{identity: callerOf(r), stream: st}
		next.ServeHTTP(st, r.WithContext(context.WithValue(ctx, sseEntryKey{}, e)))
	})
}

// message wraps mcp-go's /message handler: only the identity that opened
// a session may post to it, and not once its stream has failed.
func (s *sseSessions) message(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		e := s.m[r.URL.Query().Get("sessionId")]
		s.mu.Unlock()
		caller := callerOf(r)
		switch {
		case e == nil || e.stream.failure() != nil:
			http.Error(w, "not found: no open SSE session with this sessionId; open /sse again", http.StatusNotFound)
		case subtle.ConstantTimeCompare(e.identity[:], caller[:]) != 1:
			http.Error(w, "forbidden: this SSE session was opened with other credentials", http.StatusForbidden)
		default:
			r, answered := s.confirms.sseMessage(w, r, e)
			if !answered {
				next.ServeHTTP(w, r)
			}
		}
	})
}

// sseStream is the ResponseWriter mcp-go's SSE handler writes to. Until the
// stream is established (headers, the endpoint event) it writes through;
// after that, Write only queues, and one goroutine writes the queue to the
// connection, each write under a deadline. mcp-go's loop thus never
// blocks on a slow client, and a full queue or a timed-out write ends the
// stream, which ends the session and releases everything waiting on it.
type sseStream struct {
	w       http.ResponseWriter
	rc      *http.ResponseController
	timeout time.Duration
	queue   chan []byte
	stop    context.CancelFunc // ends mcp-go's handler, hence the session

	mu      sync.Mutex
	started bool  // the writer goroutine runs
	closing bool  // end has cut the connection's writes
	err     error // why the stream ended
	ended   chan struct{}
	wg      sync.WaitGroup
}

func (s *sseStream) Header() http.Header { return s.w.Header() }

func (s *sseStream) WriteHeader(code int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.started {
		s.w.WriteHeader(code)
	}
}

func (s *sseStream) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.err != nil {
		return 0, s.err
	}
	if !s.started {
		if err := s.rc.SetWriteDeadline(time.Now().Add(s.timeout)); err != nil {
			return 0, err
		}
		return s.w.Write(p)
	}
	select {
	case s.queue <- append([]byte(nil), p...):
		return len(p), nil
	default:
		s.failLocked(errQueueFull)
		return 0, errQueueFull
	}
}

// Flush: mcp-go flushes after the endpoint event; from then on the stream
// runs through the queue.
func (s *sseStream) Flush() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.started || s.err != nil {
		return
	}
	if err := s.rc.Flush(); err != nil {
		s.failLocked(err)
		return
	}
	s.started = true
	s.wg.Add(1)
	go s.writeLoop()
}

func (s *sseStream) writeLoop() {
	defer s.wg.Done()
	for {
		select {
		case p := <-s.queue:
			err := s.arm()
			if err == nil {
				_, err = s.w.Write(p)
			}
			if err == nil {
				err = s.rc.Flush()
			}
			if err != nil {
				s.fail(err)
				return
			}
		case <-s.ended:
			return
		}
	}
}

// arm sets the deadline of the next write, unless the stream has failed
// or is ending: under the lock, so end's cut cannot be overwritten.
func (s *sseStream) arm() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.err != nil || s.closing {
		return errStreamClosed
	}
	return s.rc.SetWriteDeadline(time.Now().Add(s.timeout))
}

func (s *sseStream) fail(err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failLocked(err)
}

func (s *sseStream) failLocked(err error) {
	if s.err == nil {
		s.err = err
		s.stop()
	}
}

func (s *sseStream) failure() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.err
}

// end runs when mcp-go's handler has returned: it stops the writer (cutting
// short a write stuck on the client) before the ResponseWriter goes away,
// clears the deadline in case net/http reuses the connection, and says why
// the stream ended. It waits for the writer before reading that reason: a
// failed write also cancels the request, and so may end the handler first.
func (s *sseStream) end() error {
	s.mu.Lock()
	s.closing = true
	close(s.ended)
	_ = s.rc.SetWriteDeadline(time.Now())
	s.mu.Unlock()
	s.wg.Wait()
	_ = s.rc.SetWriteDeadline(time.Time{})
	s.fail(errStreamClosed)
	return s.failure()
}
