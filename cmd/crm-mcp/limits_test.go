package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mark3labs/mcp-go/client"
	"github.com/mark3labs/mcp-go/mcp"

	"github.com/crm-mcp/crm-mcp/tools"
	"github.com/crm-mcp/crm-mcp/vendors/redistest"
	"github.com/crm-mcp/crm-mcp/vendors/vivre/vivretest"
)

// burst fires n concurrent vivre_get_contact calls spread over sessions
// and reports how many succeeded within window, and checks that every
// failure is a rate-limit error that says when to retry.
func burst(t *testing.T, base string, n, sessions int, window time.Duration) (okInWindow, ok int) {
	t.Helper()
	clients := make([]*client.Client, sessions)
	for i := range clients {
		clients[i] = mcpClient(t, base, nil)
	}
	start := time.Now()
	var inWindow, total atomic.Int32
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			req := mcp.CallToolRequest{}
			req.Params.Name, req.Params.Arguments = "vivre_get_contact", map[string]any{"id": "cnt_8800"}
			res, err := clients[i%sessions].CallTool(context.Background(), req)
			if err != nil {
				t.Errorf("protocol error: %v", err)
				return
			}
			if !res.IsError {
				total.Add(1)
				if time.Since(start) <= window {
					inWindow.Add(1)
				}
				return
			}
			body, _ := tools.ErrorOf(res)
			if body.Kind != "rate_limited" || body.RetryAfterSeconds <= 0 {
				t.Errorf("a failed call must be a rate-limit error with retry_after_seconds: %+v", body)
			}
		}()
	}
	wg.Wait()
	return int(inWindow.Load()), int(total.Load())
}

// Vivre's free plan (60/min): 75 concurrent calls through one server.
func TestFreePlanBurstNeverDraws429(t *testing.T) {
	vendor := vivretest.NewServer(vivretest.Options{RatePerMinute: 60})
	defer vendor.Close()
	_, base := startApp(t, slog.New(slog.DiscardHandler), "VIVRE_API_KEY", vivretest.APIKey,
		"VIVRE_WORKSPACE_ID", vivretest.WorkspaceID, "VIVRE_PLAN", "free", "VIVRE_BASE_URL", vendor.URL)
	inWindow, ok := burst(t, base, 75, 5, 8*time.Second)
	t.Logf("%d of 75 calls succeeded, %d within 8 s; vendor throttled %d", ok, inWindow, vendor.Throttled())
	if vendor.Throttled() != 0 {
		t.Fatalf("the vendor answered 429 %d times", vendor.Throttled())
	}
	if inWindow < 55 || ok > 60 {
		t.Fatalf("%d calls within 8 s (want >= 55), %d in all (the plan allows 60)", inWindow, ok)
	}
}

// Three server processes sharing one Redis and one Vivre key, 30 calls each.
func TestReplicasShareTheBudgetThroughRedis(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs three server processes")
	}
	redisURL := redistest.URL(t)
	vendor := vivretest.NewServer(vivretest.Options{RatePerMinute: 60})
	defer vendor.Close()
	bin := buildServer(t)
	var bases []string
	for range 3 {
		_, base := spawnServer(t, bin, nil, []string{"REDIS_URL=" + redisURL, "VIVRE_API_KEY=" + vivretest.APIKey,
			"VIVRE_WORKSPACE_ID=" + vivretest.WorkspaceID, "VIVRE_PLAN=free", "VIVRE_BASE_URL=" + vendor.URL, "LOG_LEVEL=warn"})
		bases = append(bases, base)
	}
	var wg sync.WaitGroup
	var inWindow, ok atomic.Int32
	for _, base := range bases {
		wg.Add(1)
		go func() {
			defer wg.Done()
			w, o := burst(t, base, 30, 3, 8*time.Second)
			inWindow.Add(int32(w))
			ok.Add(int32(o))
		}()
	}
	wg.Wait()
	t.Logf("%d of 90 calls succeeded, %d within 8 s; vendor throttled %d", ok.Load(), inWindow.Load(), vendor.Throttled())
	if vendor.Throttled() != 0 {
		t.Fatalf("the vendor answered 429 %d times", vendor.Throttled())
	}
	if inWindow.Load() < 55 || ok.Load() > 60 {
		t.Fatalf("%d calls within 8 s (want >= 55 of the 60 allowed), %d in all", inWindow.Load(), ok.Load())
	}
}

func freePort(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return fmt.Sprint(ln.Addr().(*net.TCPAddr).Port)
}

// buildServer builds the crm-mcp binary into the test's temporary directory.
func buildServer(t testing.TB) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "crm-mcp")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// spawnServer runs bin with args and --transport http on a free loopback
// port, env added to the test's environment and its stderr to stderr (nil:
// the test's own), and waits until it is healthy; it is killed when the
// test ends. It returns the process and its base URL.
func spawnServer(t testing.TB, bin string, stderr io.Writer, env []string, args ...string) (*exec.Cmd, string) {
	t.Helper()
	addr := "127.0.0.1:" + freePort(t)
	cmd := exec.Command(bin, slices.Concat(args, []string{"--transport", "http", "--addr", addr})...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stderr = stderr
	if stderr == nil {
		cmd.Stderr = os.Stderr
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	base := "http://" + addr
	waitHealthy(t, base)
	return cmd, base
}

func waitHealthy(t testing.TB, base string) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		if resp, err := http.Get(base + "/healthz"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("%s never became healthy", base)
}
