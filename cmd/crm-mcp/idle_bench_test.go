package main

import (
	"bufio"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestIdleConnectionsRSS is the measurement behind "Idle connections" in
// BENCHMARKS.md, not a check: the server binary holding 2,000 idle
// keep-alive connections over loopback, below the connection cap and at
// the default cap. Linux only (/proc).
//
//	CRM_MCP_IDLE_BENCH=1 go test ./cmd/crm-mcp -run TestIdleConnectionsRSS -v
func TestIdleConnectionsRSS(t *testing.T) {
	if os.Getenv("CRM_MCP_IDLE_BENCH") == "" || runtime.GOOS != "linux" {
		t.Skip("a measurement for BENCHMARKS.md: set CRM_MCP_IDLE_BENCH=1 (Linux)")
	}
	const n = 2000
	bin := buildServer(t)
	for _, limit := range []string{"4096", "1024"} {
		var stderr syncBuffer
		cmd, base := spawnServer(t, bin, &stderr, []string{"CRM_MCP_MAX_CONNECTIONS=" + limit, "LOG_LEVEL=warn", "LOG_FORMAT=json"}, "--sandbox")
		addr := strings.TrimPrefix(base, "http://")
		time.Sleep(time.Second)
		before := rss(t, cmd.Process.Pid)

		conns := make([]net.Conn, n)
		readers := make([]*bufio.Reader, n)
		var served, failed atomic.Int32
		var wg sync.WaitGroup
		start := time.Now()
		for i := range conns {
			c, err := net.Dial("tcp", addr)
			if err != nil {
				t.Fatalf("dial %d: %v", i, err)
			}
			conns[i], readers[i] = c, bufio.NewReader(c)
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, _ = io.WriteString(c, "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
				_ = c.SetReadDeadline(time.Now().Add(60 * time.Second))
				resp, err := http.ReadResponse(readers[i], nil)
				if err != nil {
					failed.Add(1)
					return
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				served.Add(1)
			}()
		}
		wg.Wait()
		all := time.Since(start)
		time.Sleep(2 * time.Second) // let the server settle before measuring
		open := 0
		for i, c := range conns {
			_ = c.SetReadDeadline(time.Now().Add(10 * time.Millisecond))
			var ne net.Error
			if _, err := readers[i].ReadByte(); errors.As(err, &ne) && ne.Timeout() {
				open++
			}
		}
		during := rss(t, cmd.Process.Pid)
		fds, _ := os.ReadDir("/proc/" + strconv.Itoa(cmd.Process.Pid) + "/fd")
		callStart := time.Now()
		ok := status(t, "POST", base+"/mcp", nil) == 200
		call := time.Since(callStart)
		t.Logf("cap %s: %d connections, %d served (%d failed) in %v, %d still open; server RSS %.1f MB before, %.1f MB holding them, %d fds; "+
			"a new initialize: ok=%v in %v; cap log lines: %d",
			limit, n, served.Load(), failed.Load(), all.Round(time.Millisecond), open, before, during, len(fds), ok, call.Round(time.Millisecond),
			strings.Count(stderr.String(), "connection cap reached"))
		for _, c := range conns {
			_ = c.Close()
		}
		_ = cmd.Process.Kill() // before the next cap's server (the cleanup is a no-op then)
		_ = cmd.Wait()
	}
}

// rss is the process's resident set in MB, from /proc.
func rss(t *testing.T, pid int) float64 {
	t.Helper()
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) == 3 && f[0] == "VmRSS:" {
			kb, _ := strconv.ParseFloat(f[1], 64)
			return kb / 1024
		}
	}
	t.Fatal("no VmRSS")
	return 0
}
