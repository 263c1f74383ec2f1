package emulator

import (
	"bytes"
	"cmp"
	"compress/gzip"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Echo is replaced, in the Body of an EchoCredentials fault, by every
// request header as "Name: value" pairs joined by "; ", escaped to sit
// inside a JSON string.
const Echo = "{{echo}}"

// answer serves one request that drew fault f.
func answer(w http.ResponseWriter, r *http.Request, f Fault, errBody func(int) string, next http.Handler) {
	if f.Delay > 0 {
		sleep(r, f.Delay)
	}
	responds := f.Drop || f.Malformed || f.Status != 0 || f.Redirect != "" || f.GzipBomb > 0 ||
		f.RetryAfterRaw != "" || f.EchoCredentials
	if !responds {
		switch {
		case f.AfterHandling: // the vendor acted and answered an empty 200
			next.ServeHTTP(discard{h: http.Header{}}, r)
			w.WriteHeader(http.StatusOK)
		case f.Trickle > 0:
			trickleReal(w, r, f.Trickle, next)
		default:
			next.ServeHTTP(w, r)
		}
		return
	}
	if f.AfterHandling {
		next.ServeHTTP(discard{h: http.Header{}}, r)
	}
	if f.Drop {
		drop(w)
		return
	}
	out := w
	if f.Trickle > 0 {
		out = newTrickler(w, r, f.Trickle)
	}
	switch {
	case f.Malformed:
		out.Header().Set("Content-Type", "application/json")
		_, _ = out.Write([]byte(`{"data": [{"id": "trunc`))
	case f.Redirect != "":
		body := f.Body
		if body == "" {
			body = `{"moved_to":` + quote(f.Redirect) + `}`
		}
		out.Header().Set("Location", f.Redirect)
		write(out, cmp.Or(f.Status, http.StatusFound), body)
	case f.GzipBomb > 0:
		bomb(out, r, cmp.Or(f.Status, http.StatusOK), f.GzipBomb, f.BombPrefix, f.BombFill)
	case f.EchoCredentials:
		echo(out, r, cmp.Or(f.Status, http.StatusOK), f.Body)
	default:
		status := cmp.Or(f.Status, http.StatusTooManyRequests) // only RetryAfterRaw leaves it 0
		switch {
		case f.RetryAfterRaw != "":
			out.Header().Set("Retry-After", f.RetryAfterRaw)
		case f.RetryAfter > 0:
			out.Header().Set("Retry-After", strconv.Itoa(f.RetryAfter))
		}
		body := f.Body
		if body == "" {
			body = errBody(status)
		}
		write(out, status, body)
	}
}

func write(w http.ResponseWriter, status int, body string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = io.WriteString(w, body)
}

// quote is s as a JSON string, quotes included.
func quote(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// bomb streams a gzip body that inflates to n bytes: prefix, then fill.
// It compresses as it writes (BestSpeed: ~800:1 on a run of one byte), so
// memory stays at one 32 KiB chunk plus the compressor, and it stops as
// soon as the client goes away.
func bomb(w http.ResponseWriter, r *http.Request, status int, n int64, prefix string, fill byte) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Encoding", "gzip")
	w.WriteHeader(status)
	zw, _ := gzip.NewWriterLevel(w, gzip.BestSpeed)
	head := prefix[:min(int64(len(prefix)), n)]
	if _, err := io.WriteString(zw, head); err != nil {
		return
	}
	chunk := bytes.Repeat([]byte{fill}, 32<<10)
	for left := n - int64(len(head)); left > 0; {
		if r.Context().Err() != nil {
			return
		}
		m := min(left, int64(len(chunk)))
		if _, err := zw.Write(chunk[:m]); err != nil {
			return
		}
		left -= m
	}
	_ = zw.Close()
}

// echo answers with every request header repeated back, as X-Echo-<Name>
// response headers and in the body.
func echo(w http.ResponseWriter, r *http.Request, status int, body string) {
	names := make([]string, 0, len(r.Header))
	for name := range r.Header {
		names = append(names, name)
	}
	slices.Sort(names)
	pairs := make([]string, 0, len(names))
	for _, name := range names {
		for _, v := range r.Header[name] {
			w.Header().Add("X-Echo-"+name, v)
			pairs = append(pairs, name+": "+v)
		}
	}
	all := quote(strings.Join(pairs, "; "))
	if body == "" {
		hdr, _ := json.Marshal(r.Header)
		body = `{"error":` + all + `,"message":` + all + `,"headers":` + string(hdr) + `}`
	} else {
		body = strings.ReplaceAll(body, Echo, all[1:len(all)-1])
	}
	write(w, status, body)
}

// trickleReal sends the vendor's real answer a byte at a time. The answer
// is produced first, so the handler holds none of its locks while the
// bytes drip out.
func trickleReal(w http.ResponseWriter, r *http.Request, d time.Duration, next http.Handler) {
	rec := httptest.NewRecorder()
	next.ServeHTTP(rec, r)
	for k, vs := range rec.Header() {
		w.Header()[k] = vs
	}
	w.Header().Del("Content-Length")
	t := newTrickler(w, r, d)
	t.WriteHeader(rec.Code)
	_, _ = t.Write(rec.Body.Bytes())
}

// trickler writes each byte on its own, flushed, d after the one before.
type trickler struct {
	http.ResponseWriter
	r       *http.Request
	rc      *http.ResponseController
	d       time.Duration
	started bool
}

func newTrickler(w http.ResponseWriter, r *http.Request, d time.Duration) *trickler {
	return &trickler{ResponseWriter: w, r: r, rc: http.NewResponseController(w), d: d}
}

func (t *trickler) Write(p []byte) (int, error) {
	for i := range p {
		if t.started {
			sleep(t.r, t.d)
		}
		if err := t.r.Context().Err(); err != nil {
			return i, err
		}
		t.started = true
		if _, err := t.ResponseWriter.Write(p[i : i+1]); err != nil {
			return i, err
		}
		if err := t.rc.Flush(); err != nil {
			return i + 1, err
		}
	}
	return len(p), nil
}
