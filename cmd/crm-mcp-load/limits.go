package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"time"

	"github.com/crm-mcp/crm-mcp/vendors/vivre/vivretest"
	"github.com/crm-mcp/crm-mcp/vendors/vixiees/vixieestest"
)

// jsonOK reports a JSON-RPC line carrying a result.
func jsonOK(line string) bool {
	var r rpcResponse
	return json.Unmarshal([]byte(line), &r) == nil && r.Error == nil && len(r.Result) > 0
}

// window is one documented limit: at most limit requests in any period.
type window struct {
	limit  int
	period time.Duration
}

// allowed is the most requests any client could have had accepted in a span
// of t starting fresh: a sliding window of L per P admits L at 0, L at P,
// L at 2P...: L × (1 + floor(t/P)). With several windows, the smallest.
func allowed(ws []window, t time.Duration) int {
	best := -1
	for _, w := range ws {
		n := w.limit * (1 + int(t/w.period))
		if best < 0 || n < best {
			best = n
		}
	}
	return best
}

// recorder wraps an emulator and notes the arrival time of every request
// it answered 2xx.
type recorder struct {
	h  http.Handler
	mu sync.Mutex
	ok []time.Time
	n  int
}

type statusWriter struct {
	http.ResponseWriter
	status int
}

func (s *statusWriter) WriteHeader(code int) { s.status = code; s.ResponseWriter.WriteHeader(code) }

func (r *recorder) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	at := time.Now()
	sw := &statusWriter{ResponseWriter: w, status: http.StatusOK}
	r.h.ServeHTTP(sw, req)
	r.mu.Lock()
	defer r.mu.Unlock()
	r.n++
	if sw.status/100 == 2 {
		r.ok = append(r.ok, at)
	}
}

// burstStart finds the last quota m ≥ 1 that started: the arrival of
// request m·limit+1, as time since start.
func (r *recorder) burstStart(limit int, start time.Time) (int, time.Duration) {
	r.mu.Lock()
	defer r.mu.Unlock()
	ok := slices.Clone(r.ok)
	slices.SortFunc(ok, func(a, b time.Time) int { return a.Compare(b) })
	m := (len(ok) - 1) / limit
	if m < 1 {
		return 0, 0
	}
	return m, ok[m*limit].Sub(start)
}

func (r *recorder) through(until time.Time) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, t := range r.ok {
		if !t.After(until) {
			n++
		}
	}
	return n
}

// modeLimits runs the real (not sandbox) server against an emulator that
// enforces the vendor's documented limit, harder than the limit, and
// reports how much of the limit went through and how many 429s were sent.
func modeLimits(ctx context.Context, cfg config, w io.Writer) error {
	var (
		handler   http.Handler
		throttled func() int
		windows   []window
		dominant  window // the window that binds over minutes
		env       []string
		tool      string
		args      json.RawMessage
		plan      string
	)
	timeout := "CRM_MCP_CALL_TIMEOUT=120s"
	switch cfg.vendor {
	case "vivre":
		e := vivretest.New(vivretest.Options{RatePerMinute: 60})
		handler, throttled = e, e.Throttled
		windows = []window{{60, time.Minute}}
		dominant = windows[0]
		tool, args, plan = "vivre_get_contact", json.RawMessage(`{"id":"cnt_8800"}`), "Vivre free plan: 60/min"
		env = []string{"VIVRE_API_KEY=" + vivretest.APIKey, "VIVRE_WORKSPACE_ID=" + vivretest.WorkspaceID, "VIVRE_PLAN=free"}
	case "vixiees":
		e := vixieestest.New(vixieestest.Options{Licenses: 1})
		handler, throttled = e, e.Throttled
		windows = []window{{40, 2 * time.Second}, {25, time.Minute}, {1500, time.Hour}, {36000, 24 * time.Hour}}
		dominant = windows[1]
		tool, args, plan = "vixiees_list_contacts", json.RawMessage(`{"limit":1}`), "Vixiees, 1 licence: 25/min, 40/2 s, 1500/h, 36000/day"
		env = []string{"VIXIEES_API_KEY=" + vixieestest.APIKey, "VIXIEES_LICENSES=1"}
	}
	rec := &recorder{h: handler}
	emu := httptest.NewServer(rec) // listens on 127.0.0.1
	defer emu.Close()
	base := map[string]string{"vivre": "VIVRE_BASE_URL=", "vixiees": "VIXIEES_BASE_URL="}[cfg.vendor] + emu.URL
	srv, err := spawn(ctx, cfg.serverBin, nil, baseEnv(append(env, base, timeout)...))
	if err != nil {
		return err
	}
	defer srv.stop()
	n := cfg.sessions[0]
	c := newHTTPClient(2 * n)
	sessions := make([]session, n)
	for i := range sessions {
		if sessions[i], err = open(ctx, "http", c, srv.base, cfg.auth); err != nil {
			return err
		}
		defer sessions[i].close()
	}
	runCtx, cancel := context.WithTimeout(ctx, cfg.duration)
	defer cancel()
	var mu sync.Mutex
	calls, refused, failed := 0, 0, 0
	firstErr := ""
	var wg sync.WaitGroup
	start := time.Now()
	for _, s := range sessions {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for runCtx.Err() == nil {
				r, err := callTool(runCtx, s, tool, args)
				if runCtx.Err() != nil {
					return // the run ended while this call waited
				}
				mu.Lock()
				calls++
				switch {
				case err != nil:
					failed++
					if firstErr == "" {
						firstErr = err.Error()
					}
				case r.IsError && r.Meta.Error.Kind == "rate_limited":
					refused++
				case r.IsError:
					failed++
					if firstErr == "" {
						firstErr = "isError, kind " + r.Meta.Error.Kind
					}
				}
				mu.Unlock()
				if r.IsError && r.Meta.Error.Kind == "rate_limited" {
					// The server's limiter said the slot is further off than a
					// call may wait: come back so the next call waits in the
					// server for its slot (at most 30 s ahead), as an agent would.
					pause := time.Duration(r.Meta.Error.RetryAfterSeconds)*time.Second - 20*time.Second
					select {
					case <-time.After(max(pause, 100*time.Millisecond)):
					case <-runCtx.Done():
						return
					}
				}
			}
		}()
	}
	<-runCtx.Done()
	end := time.Now()
	wg.Wait()
	T := end.Sub(start)
	through := rec.through(end)
	allow := allowed(windows, T)
	// The ratio at every instant of the run from the first period on, every
	// 100 ms: how it swings with the phase of the bursts.
	var ratios []float64
	for t := time.Minute; t <= T; t += 100 * time.Millisecond {
		ratios = append(ratios, float64(rec.through(start.Add(t)))/float64(allowed(windows, t)))
	}
	// Sustained use, free of the phase at which the run stops: the m-th
	// full quota after the first could start at m·P at the earliest; it
	// started at t_m (arrival of request m·L+1). Use = m·P / t_m.
	sustained := "n/a (run shorter than a period)"
	if m, t := rec.burstStart(dominant.limit, start); m > 0 {
		sustained = fmt.Sprintf("%.1f%% (quota %d started at %.2f s, earliest %d s)", 100*float64(m)*dominant.period.Seconds()/t.Seconds(),
			m+1, t.Seconds(), m*int(dominant.period.Seconds()))
	}
	fmt.Fprintf(w, "## Limit use: %s (%s), %d sessions, %s, CRM_MCP_CALL_TIMEOUT=120s\n\n", cfg.vendor, plan, n, T.Round(time.Millisecond))
	fmt.Fprintln(w, "| went through (2xx at the emulator) | allowed in T | use | 429s sent by the emulator | tool calls made | refused by our limiter (slot past the call deadline) | other errors | use over every T ≥ 1 min: min / median | sustained use (last full quota) |")
	fmt.Fprintln(w, "|---|---|---|---|---|---|---|---|---|")
	slices.Sort(ratios)
	mn, md := 0.0, 0.0
	if len(ratios) > 0 {
		mn, md = ratios[0], ratios[len(ratios)/2]
	}
	fmt.Fprintf(w, "| %d | %d | %.1f%% | %d | %d | %d | %d | %.1f%% / %.1f%% | %s |\n\n", through, allow, 100*float64(through)/float64(allow),
		throttled(), calls, refused, failed, 100*mn, 100*md, sustained)
	if firstErr != "" {
		fmt.Fprintf(w, "first error: %s\n\n", firstErr)
	}
	return nil
}
