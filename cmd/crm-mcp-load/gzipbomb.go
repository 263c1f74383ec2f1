package main

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// bombSize is how much every answer of the hostile vendor inflates to.
const bombSize = 1 << 30

// bombPrefix opens a Vivre contact envelope that the fill never closes.
const bombPrefix = `{"data":{"id":"`

// writeBomb writes to w a gzip stream (BestCompression) that inflates to n
// bytes: prefix, then fill. It compresses as it goes, so it holds one
// 32 KiB chunk and the compressor, never the body. It stops at the first
// failed write or when ctx ends, and reports how many inflated bytes it
// had handed to the compressor and whether the stream was written whole.
func writeBomb(ctx context.Context, w io.Writer, n int64, prefix string, fill byte) (fed int64, whole bool) {
	zw, err := gzip.NewWriterLevel(w, gzip.BestCompression)
	if err != nil {
		return 0, false
	}
	head := prefix[:min(int64(len(prefix)), n)]
	if _, err := io.WriteString(zw, head); err != nil {
		return 0, false
	}
	fed = int64(len(head))
	chunk := bytes.Repeat([]byte{fill}, 32<<10)
	for fed < n { // at most n/32 KiB rounds, and ctx bounds the time
		if ctx.Err() != nil {
			return fed, false
		}
		m := min(n-fed, int64(len(chunk)))
		if _, err := zw.Write(chunk[:m]); err != nil {
			return fed, false
		}
		fed += m
	}
	return fed, zw.Close() == nil
}

// countingWriter counts the bytes that went through it.
type countingWriter struct {
	w io.Writer
	n *atomic.Int64
}

func (c countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n.Add(int64(n))
	return n, err
}

// bombVendor answers every request 200, Content-Encoding: gzip, with a body
// that inflates to size bytes, whatever the request asked for.
type bombVendor struct {
	size     int64
	maxTime  time.Duration // bound on one answer
	requests atomic.Int64
	sent     atomic.Int64 // compressed bytes written
	fed      atomic.Int64 // inflated bytes handed to the compressor
	whole    atomic.Int64 // answers written to the end
}

func (b *bombVendor) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b.requests.Add(1)
	ctx, cancel := context.WithTimeout(r.Context(), b.maxTime)
	defer cancel()
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Encoding", "gzip")
	w.WriteHeader(http.StatusOK)
	fed, whole := writeBomb(ctx, countingWriter{w: w, n: &b.sent}, b.size, bombPrefix, 'a')
	b.fed.Add(fed)
	if whole {
		b.whole.Add(1)
	}
}

// tooLarge reports whether r is the tool error of a response over the
// server's body cap.
func tooLarge(r toolResult) bool {
	return r.IsError && r.Meta.Error.Kind == "bad_response" &&
		strings.Contains(r.Meta.Error.Error, "larger than")
}

// modeGzipBomb spawns the real (not sandbox) server against a Vivre that
// answers everything with a 1 GiB gzip bomb, has n sessions call
// vivre_get_contact at once, for --runs rounds, and reports the server's
// RSS before, its peak (VmHWM) and after.
func modeGzipBomb(ctx context.Context, cfg config, w io.Writer) error {
	vendor := &bombVendor{size: bombSize, maxTime: time.Minute}
	hostile := httptest.NewServer(vendor) // listens on 127.0.0.1
	defer hostile.Close()
	env := []string{"VIVRE_API_KEY=vv_live_bomb_0000000000000000", "VIVRE_WORKSPACE_ID=ws_bomb",
		"VIVRE_PLAN=pro", "VIVRE_BASE_URL=" + hostile.URL}
	srv, err := spawn(ctx, cfg.serverBin, nil, baseEnv(env...))
	if err != nil {
		return err
	}
	defer srv.stop()
	n := cfg.bombSessions
	c := newHTTPClient(2 * n)
	defer c.CloseIdleConnections()
	sessions := make([]session, 0, n)
	defer func() {
		for _, s := range sessions {
			s.close()
		}
	}()
	for range n {
		s, err := open(ctx, "http", c, srv.base, cfg.auth)
		if err != nil {
			return err
		}
		sessions = append(sessions, s)
	}
	before, err := rssKB(srv.pid, "VmRSS")
	if err != nil {
		return err
	}
	hwmBefore, err := rssKB(srv.pid, "VmHWM")
	if err != nil {
		return err
	}
	const tool, args = "vivre_get_contact", `{"id":"cnt_8800"}`
	type round struct {
		calls, large, other int
		took, slowest       time.Duration
		hwm, rss            int
	}
	var rounds []round
	firstOther := ""
	for range cfg.runs {
		rctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
		var mu sync.Mutex
		var rd round
		var wg sync.WaitGroup
		gate := make(chan struct{})
		start := time.Now()
		for _, s := range sessions {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-gate // every session calls at the same instant
				t := time.Now()
				r, err := callTool(rctx, s, tool, json.RawMessage(args))
				d := time.Since(t)
				mu.Lock()
				defer mu.Unlock()
				rd.calls++
				rd.slowest = max(rd.slowest, d)
				switch {
				case err != nil:
					rd.other++
					if firstOther == "" {
						firstOther = err.Error()
					}
				case tooLarge(r):
					rd.large++
				default:
					rd.other++
					if firstOther == "" {
						firstOther = fmt.Sprintf("isError %v, kind %q: %s", r.IsError, r.Meta.Error.Kind, r.Meta.Error.Error)
					}
				}
			}()
		}
		close(gate)
		wg.Wait()
		rd.took = time.Since(start)
		cancel()
		if rd.hwm, err = rssKB(srv.pid, "VmHWM"); err != nil {
			return err
		}
		if rd.rss, err = rssKB(srv.pid, "VmRSS"); err != nil {
			return err
		}
		rounds = append(rounds, rd)
	}
	after := rounds[len(rounds)-1].rss
	select { // what the server still holds once it has been idle a little
	case <-time.After(5 * time.Second):
	case <-ctx.Done():
		return ctx.Err()
	}
	settled, err := rssKB(srv.pid, "VmRSS")
	if err != nil {
		return err
	}
	calls, large := 0, 0
	var took time.Duration
	for _, rd := range rounds {
		calls, large, took = calls+rd.calls, large+rd.large, took+rd.took
	}
	fmt.Fprintf(w, "## Gzip bomb: every Vivre answer is 200, Content-Encoding: gzip, inflating to %d MiB (BestCompression, streamed); %d sessions call %s %s at once, %d rounds\n\n",
		bombSize>>20, n, tool, args, len(rounds))
	fmt.Fprintln(w, "| round | calls | too-large tool errors | other results | wall time | slowest call | server peak RSS (VmHWM) after | server RSS after |")
	fmt.Fprintln(w, "|---|---|---|---|---|---|---|---|")
	for i, rd := range rounds {
		fmt.Fprintf(w, "| %d | %d | %d | %d | %.0f ms | %.0f ms | %s | %s |\n", i+1, rd.calls, rd.large, rd.other,
			ms(rd.took), ms(rd.slowest), mib(rd.hwm), mib(rd.rss))
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "| server RSS before (sessions open) | peak before the calls | peak RSS (VmHWM) | RSS after the last round | RSS 5 s later | calls | too large | time in calls | vendor requests | compressed bytes sent | inflated bytes fed to the compressor | bombs sent whole |")
	fmt.Fprintln(w, "|---|---|---|---|---|---|---|---|---|---|---|---|")
	fmt.Fprintf(w, "| %s | %s | **%s** | %s | %s | %d | %d | %.0f ms | %d | %.1f MiB | %.1f MiB | %d |\n\n",
		mib(before), mib(hwmBefore), mib(rounds[len(rounds)-1].hwm), mib(after), mib(settled), calls, large, ms(took),
		vendor.requests.Load(), float64(vendor.sent.Load())/(1<<20), float64(vendor.fed.Load())/(1<<20), vendor.whole.Load())
	if large != calls {
		fmt.Fprintf(w, "first other result: %s\n\n", firstOther)
		return fmt.Errorf("gzipbomb: %d of %d calls did not end in a too-large tool error", calls-large, calls)
	}
	return nil
}
