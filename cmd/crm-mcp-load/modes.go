package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

func numCPU() int        { return runtime.NumCPU() }
func gomaxprocs() string { return strconv.Itoa(runtime.GOMAXPROCS(0)) }

// modeOverhead alternates, on one client and one session, a direct GET to
// the emulator and the tool call that makes the same GET inside the server.
func modeOverhead(ctx context.Context, cfg config, srv *server, w io.Writer) error {
	c := newHTTPClient(4)
	sess, err := open(ctx, "http", c, srv.base, cfg.auth)
	if err != nil {
		return err
	}
	defer sess.close()
	direct := func() (time.Duration, error) {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, srv.base+cfg.direct, nil)
		if err != nil {
			return 0, err
		}
		req.Header.Set("Authorization", "Bearer vv_test_0000000000000000")
		req.Header.Set("X-Workspace-ID", "ws_sandbox")
		req.Header.Set("Accept", "application/json")
		start := time.Now()
		resp, err := c.Do(req)
		if err != nil {
			return 0, err
		}
		// Read and decode the contact, as a client of the vendor would.
		var body struct {
			Data map[string]any `json:"data"`
		}
		err = json.NewDecoder(resp.Body).Decode(&body)
		_ = resp.Body.Close()
		d := time.Since(start)
		if err == nil && resp.StatusCode != http.StatusOK {
			err = fmt.Errorf("direct GET %s: HTTP %d", cfg.direct, resp.StatusCode)
		}
		return d, err
	}
	tool := func() (time.Duration, error) {
		start := time.Now()
		r, err := callTool(ctx, sess, cfg.tool, cfg.args)
		d := time.Since(start)
		if err == nil && r.IsError {
			err = fmt.Errorf("%s failed: kind %s", cfg.tool, r.Meta.Error.Kind)
		}
		return d, err
	}
	ping := func() (time.Duration, error) {
		start := time.Now()
		_, err := sess.rpc(ctx, "ping", nil)
		return time.Since(start), err
	}
	const calls = 2000
	var d50, d99, t50, t99, p50, p99 []time.Duration
	var ratios []float64
	for range cfg.runs {
		var ds, ts, ps []time.Duration
		for i := range calls + 200 { // the first 200 rounds warm up
			dd, err := direct()
			if err != nil {
				return err
			}
			td, err := tool()
			if err != nil {
				return err
			}
			pd, err := ping()
			if err != nil {
				return err
			}
			if i >= 200 {
				ds, ts, ps = append(ds, dd), append(ts, td), append(ps, pd)
			}
		}
		slices.Sort(ds)
		slices.Sort(ts)
		slices.Sort(ps)
		p50, p99 = append(p50, percentile(ps, .5)), append(p99, percentile(ps, .99))
		d50, d99 = append(d50, percentile(ds, .5)), append(d99, percentile(ds, .99))
		t50, t99 = append(t50, percentile(ts, .5)), append(t99, percentile(ts, .99))
		ratios = append(ratios, float64(percentile(ts, .5))/float64(percentile(ds, .5)))
	}
	fmt.Fprintf(w, "## Overhead: direct GET %s vs tool call %s %s (1 client, 1 session, streamable HTTP, %d alternating rounds × %d runs)\n\n",
		cfg.direct, cfg.tool, cfg.args, calls, cfg.runs)
	fmt.Fprintln(w, "| | p50 | p99 |")
	fmt.Fprintln(w, "|---|---|---|")
	fmt.Fprintf(w, "| direct HTTP to the emulator | %s | %s |\n", us(median(d50)), us(median(d99)))
	fmt.Fprintf(w, "| tool call | %s | %s |\n", us(median(t50)), us(median(t99)))
	fmt.Fprintf(w, "| JSON-RPC ping on the same session (transport alone) | %s | %s |\n", us(median(p50)), us(median(p99)))
	fmt.Fprintf(w, "| ratio tool/direct (p50) | %.2f× (runs: %s) | |\n\n", median(ratios), floats(ratios))
	return nil
}

func floats(xs []float64) string {
	s := ""
	for i, x := range xs {
		if i > 0 {
			s += ", "
		}
		s += fmt.Sprintf("%.2f", x)
	}
	return s
}

type tpResult struct {
	rate     float64
	p50, p99 time.Duration
	calls    int
	errors   int
	firstErr string
	cpu      time.Duration // the server's CPU time over the measured calls; < 0 if unknown
	ownCPU   time.Duration // this command's CPU time over the same span; < 0 if unknown
}

// cpuPerCall is the server's CPU time per measured call, or -1 if unknown.
func (r tpResult) cpuPerCall() time.Duration { return perCall(r.cpu, r.calls) }

// ownCPUPerCall is the load command's CPU time per measured call.
func (r tpResult) ownCPUPerCall() time.Duration { return perCall(r.ownCPU, r.calls) }

func perCall(d time.Duration, calls int) time.Duration {
	if d < 0 || calls == 0 {
		return -1
	}
	return d / time.Duration(calls)
}

// throughputRun opens n sessions and has each call the tool in a loop.
func throughputRun(ctx context.Context, cfg config, srv *server, transport string, n int) (tpResult, error) {
	c := newHTTPClient(2 * n)
	defer c.CloseIdleConnections()
	sessions := make([]session, n)
	var g sync.WaitGroup
	errs := make([]error, n)
	sem := make(chan struct{}, 16)
	for i := range n {
		g.Add(1)
		go func() {
			defer g.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			sessions[i], errs[i] = open(ctx, transport, c, srv.base, cfg.auth)
		}()
	}
	g.Wait()
	defer func() {
		for _, s := range sessions {
			if s != nil {
				s.close()
			}
		}
	}()
	if err := errors.Join(errs...); err != nil {
		return tpResult{}, err
	}
	loop := func(until time.Time, budget *atomic.Int64, record bool) ([][]time.Duration, int, string) {
		lat := make([][]time.Duration, n)
		var nerr atomic.Int64
		var first sync.Once
		var firstErr string
		var wg sync.WaitGroup
		for i, s := range sessions {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for time.Now().Before(until) && budget.Add(-1) >= 0 && ctx.Err() == nil {
					start := time.Now()
					r, err := callTool(ctx, s, cfg.tool, cfg.args)
					d := time.Since(start)
					if err == nil && r.IsError {
						err = fmt.Errorf("isError, kind %s", r.Meta.Error.Kind)
					}
					if err != nil {
						nerr.Add(1)
						first.Do(func() { firstErr = err.Error() })
					}
					if record {
						lat[i] = append(lat[i], d)
					}
				}
			}()
		}
		wg.Wait()
		return lat, int(nerr.Load()), firstErr
	}
	var warm atomic.Int64
	warm.Store(int64(cfg.maxCalls))
	loop(time.Now().Add(cfg.warmup), &warm, false)
	var budget atomic.Int64
	budget.Store(int64(cfg.maxCalls))
	cpu0, cpuErr := procCPU(srv.pid)
	own0, ownErr := procCPU(os.Getpid())
	start := time.Now()
	lat, nerr, firstErr := loop(start.Add(cfg.duration), &budget, true)
	elapsed := time.Since(start)
	cpu1, err := procCPU(srv.pid)
	cpu := cpu1 - cpu0
	if cpuErr != nil || err != nil {
		cpu = -1
	}
	own1, err := procCPU(os.Getpid())
	own := own1 - own0
	if ownErr != nil || err != nil {
		own = -1
	}
	var all []time.Duration
	for _, l := range lat {
		all = append(all, l...)
	}
	slices.Sort(all)
	return tpResult{rate: float64(len(all)) / elapsed.Seconds(), p50: percentile(all, .5), p99: percentile(all, .99),
		calls: len(all), errors: nerr, firstErr: firstErr, cpu: cpu, ownCPU: own}, ctx.Err()
}

func modeThroughput(ctx context.Context, cfg config, srv *server, w io.Writer) error {
	fmt.Fprintf(w, "## Throughput: %s %s, %s measured per run after %s warm-up, median of %d runs\n\n",
		cfg.tool, cfg.args, cfg.duration, cfg.warmup, cfg.runs)
	fmt.Fprintln(w, "| transport | sessions | calls/s | p50 | p99 | errors / calls | server RSS after | runs (calls/s) |")
	fmt.Fprintln(w, "|---|---|---|---|---|---|---|---|")
	for _, tr := range cfg.transports {
		for _, n := range cfg.sessions {
			var rates []float64
			var p50s, p99s []time.Duration
			errs, calls, firstErr := 0, 0, ""
			for range cfg.runs {
				r, err := throughputRun(ctx, cfg, srv, tr, n)
				if err != nil {
					return fmt.Errorf("%s, %d sessions: %w", tr, n, err)
				}
				rates, p50s, p99s = append(rates, r.rate), append(p50s, r.p50), append(p99s, r.p99)
				errs, calls = errs+r.errors, calls+r.calls
				if firstErr == "" {
					firstErr = r.firstErr
				}
			}
			name := map[string]string{"http": "streamable HTTP", "sse": "SSE"}[tr]
			fmt.Fprintf(w, "| %s | %d | %.0f | %s | %s | %d / %d | %s | %s |\n", name, n, median(slices.Clone(rates)),
				us(median(p50s)), us(median(p99s)), errs, calls, srv.rss(), floats0(rates))
			if firstErr != "" {
				fmt.Fprintf(w, "\nfirst error: %s\n\n", firstErr)
			}
		}
	}
	fmt.Fprintln(w)
	return nil
}

func floats0(xs []float64) string {
	s := ""
	for i, x := range xs {
		if i > 0 {
			s += ", "
		}
		s += fmt.Sprintf("%.0f", x)
	}
	return s
}

// modeIdle opens cfg.idle SSE sessions, initializes them, leaves them idle
// and reads the server's RSS.
func modeIdle(ctx context.Context, cfg config, srv *server, w io.Writer) error {
	if srv.pid <= 0 {
		return errors.New("idle mode needs the server's RSS: give --pid or --server-bin")
	}
	before, err := rssKB(srv.pid, "VmRSS")
	if err != nil {
		return err
	}
	c := newHTTPClient(cfg.idle + 16)
	sessions := make([]session, cfg.idle)
	errs := make([]error, cfg.idle)
	var g sync.WaitGroup
	sem := make(chan struct{}, 32)
	for i := range cfg.idle {
		g.Add(1)
		go func() {
			defer g.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			sessions[i], errs[i] = open(ctx, "sse", c, srv.base, cfg.auth)
		}()
	}
	g.Wait()
	defer func() {
		for _, s := range sessions {
			if s != nil {
				s.close()
			}
		}
	}()
	if err := errors.Join(errs...); err != nil {
		return err
	}
	var samples []int
	for range 3 { // let the sessions settle, then sample three times a second apart
		select {
		case <-time.After(time.Second):
		case <-ctx.Done():
			return ctx.Err()
		}
		kb, err := rssKB(srv.pid, "VmRSS")
		if err != nil {
			return err
		}
		samples = append(samples, kb)
	}
	after := median(samples)
	fmt.Fprintf(w, "## Idle SSE sessions: %d opened, initialized, left idle\n\n", cfg.idle)
	fmt.Fprintln(w, "| server RSS before | with the sessions open (median of 3 samples) | per session |")
	fmt.Fprintln(w, "|---|---|---|")
	fmt.Fprintf(w, "| %s | %s | %.1f KiB |\n\n", mib(before), mib(after), float64(after-before)/float64(cfg.idle))
	return nil
}

// modeColdStart times process start to the first initialize reply on stdout.
func modeColdStart(ctx context.Context, cfg config, w io.Writer) error {
	const initLine = `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"crm-mcp-load","version":"1"}}}` + "\n"
	runs := max(cfg.runs, 5)
	var ds []time.Duration
	for range runs {
		cmd := exec.CommandContext(ctx, cfg.serverBin, "--sandbox")
		cmd.Env = baseEnv()
		stdin, err := cmd.StdinPipe()
		if err != nil {
			return err
		}
		stdout, err := cmd.StdoutPipe()
		if err != nil {
			return err
		}
		start := time.Now()
		if err := cmd.Start(); err != nil {
			return err
		}
		if _, err := io.WriteString(stdin, initLine); err != nil {
			return err
		}
		line, err := bufio.NewReader(stdout).ReadString('\n')
		d := time.Since(start)
		_ = stdin.Close()
		_ = cmd.Wait()
		if err != nil {
			return fmt.Errorf("cold start: no reply: %w", err)
		}
		if !jsonOK(line) {
			return fmt.Errorf("cold start: reply is not an initialize result: %.200s", line)
		}
		ds = append(ds, d)
	}
	sorted := slices.Clone(ds)
	slices.Sort(sorted)
	fmt.Fprintf(w, "## Cold start, stdio: exec of `%s --sandbox` to the first initialize reply on stdout, %d runs\n\n", cfg.serverBin, runs)
	fmt.Fprintln(w, "| median | min | max |")
	fmt.Fprintln(w, "|---|---|---|")
	fmt.Fprintf(w, "| %.1f ms | %.1f ms | %.1f ms |\n\n", ms(median(sorted)), ms(sorted[0]), ms(sorted[len(sorted)-1]))
	return nil
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
