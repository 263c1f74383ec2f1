package emulator

import (
	"bytes"
	"cmp"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
)

// Recorder is "the second host" of a redirect test: an http.Handler that
// answers every request with Status and Body and records what it got, so a
// test can assert that no key and no body ever reached it. Set Status and
// Body before it serves; it is safe for concurrent requests.
type Recorder struct {
	Status int    // answer status (0: 200)
	Body   string // answer body (default `{"data":[]}`, a plausible vendor page)

	mu   sync.Mutex
	reqs []Recorded
}

// Recorded is one request a Recorder received.
type Recorded struct {
	Method string
	Host   string      // the Host header as received
	Path   string      // URL path
	Query  string      // raw query, without '?'
	Header http.Header // every header, as received
	Body   []byte      // the body, up to MaxRecordedBody bytes
}

// MaxRecordedBody bounds what a Recorder keeps of each body: enough to find
// a leaked field, not enough for a hostile client to fill the test's memory.
const MaxRecordedBody = 1 << 20

// ServeHTTP implements http.Handler.
func (rc *Recorder) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(io.LimitReader(r.Body, MaxRecordedBody))
	rc.mu.Lock()
	rc.reqs = append(rc.reqs, Recorded{Method: r.Method, Host: r.Host, Path: r.URL.Path, Query: r.URL.RawQuery,
		Header: r.Header.Clone(), Body: body})
	rc.mu.Unlock()
	b := rc.Body
	if b == "" {
		b = `{"data":[]}`
	}
	write(w, cmp.Or(rc.Status, http.StatusOK), b)
}

// Requests returns what was received so far, oldest first.
func (rc *Recorder) Requests() []Recorded {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	out := make([]Recorded, len(rc.reqs))
	for i, q := range rc.reqs {
		q.Header = q.Header.Clone()
		q.Body = bytes.Clone(q.Body)
		out[i] = q
	}
	return out
}

// Saw reports whether s appears anywhere in any request received so far:
// method, host, path, query, header names and values, or body. s == ""
// reports whether any request arrived at all.
func (rc *Recorder) Saw(s string) bool {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	if s == "" {
		return len(rc.reqs) > 0
	}
	for _, q := range rc.reqs {
		if strings.Contains(q.Method+" "+q.Host+" "+q.Path+"?"+q.Query, s) || bytes.Contains(q.Body, []byte(s)) {
			return true
		}
		for name, vs := range q.Header {
			if strings.Contains(name, s) {
				return true
			}
			for _, v := range vs {
				if strings.Contains(v, s) {
					return true
				}
			}
		}
	}
	return false
}

// RecorderServer is a Recorder listening on a loopback port. Go's own
// redirect rules compare host names, not ports: to be a foreign host to
// a client at 127.0.0.1, redirect to ForeignURL.
type RecorderServer struct {
	*Recorder
	*httptest.Server
}

// NewRecorderServer starts a Recorder on 127.0.0.1; Close it when done.
func NewRecorderServer() *RecorderServer {
	rc := &Recorder{}
	return &RecorderServer{Recorder: rc, Server: httptest.NewServer(rc)}
}

// ForeignURL is the server's URL with the host named "localhost": the same
// listener, but another host to anything that compares names.
func (s *RecorderServer) ForeignURL() string {
	return strings.Replace(s.URL, "127.0.0.1", "localhost", 1)
}
