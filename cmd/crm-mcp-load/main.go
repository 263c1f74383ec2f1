// Command crm-mcp-load measures a running crm-mcp over loopback: tool-call
// throughput and latency over streamable HTTP and SSE with N concurrent
// sessions, the overhead of a tool call over a direct call to the same
// emulator, the memory of idle SSE sessions, stdio cold start, and how much
// of a vendor's documented limit the server uses without a 429, the
// server's memory when a vendor answers with gzip bombs, and its throughput
// next to a bare mcp-go server answering the same tool from memory.
//
//	crm-mcp-load --mode all --server-bin ./crm-mcp          # every figure of BENCHMARKS.md but limits
//	crm-mcp-load --mode throughput --addr 127.0.0.1:8080 --pid 1234 --sessions 1,8,64
//	crm-mcp-load --mode limits --vendor vivre --server-bin ./crm-mcp --duration 4m
//	crm-mcp-load --mode gzipbomb --server-bin ./crm-mcp
//	crm-mcp-load --mode floor --server-bin ./crm-mcp --runs 3 --duration 5s
//
// It builds nothing: it drives the address it is given (loopback only), or
// spawns --server-bin itself. Every run is bounded by --duration and
// --max-calls, and the whole command by --timeout.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
)

type config struct {
	mode       string
	addr       string
	pid        int
	serverBin  string
	transports []string
	sessions   []int
	duration   time.Duration
	warmup     time.Duration
	maxCalls   int
	runs       int
	tool       string
	args       json.RawMessage
	direct     string
	idle       int
	vendor     string
	auth       string
	timeout    time.Duration

	// bombSessions is the first --sessions value if given, else 40.
	bombSessions int
	// floorSessions is the first --sessions value if given, else 8.
	floorSessions int
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Stdout, os.Stderr))
}

func run(ctx context.Context, argv []string, stdout, stderr io.Writer) int {
	if len(argv) == 2 && argv[0] == serveFloorFlag { // the child process of --mode floor
		if err := serveFloor(ctx, argv[1]); err != nil {
			fmt.Fprintln(stderr, "crm-mcp-load floor:", err)
			return 1
		}
		return 0
	}
	cfg, err := parse(argv, stderr)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		fmt.Fprintln(stderr, "crm-mcp-load:", err)
		return 2
	}
	ctx, cancel := context.WithTimeout(ctx, cfg.timeout)
	defer cancel()
	fmt.Fprintf(stdout, "# crm-mcp-load %s — %s, GOMAXPROCS of the load command %s, started %s\n\n",
		cfg.mode, machine(), gomaxprocs(), time.Now().Format(time.RFC3339))
	switch cfg.mode {
	case "all":
		err = modeAll(ctx, cfg, stdout)
	case "throughput":
		err = withServer(ctx, cfg, func(s *server) error { return modeThroughput(ctx, cfg, s, stdout) })
	case "overhead":
		err = withServer(ctx, cfg, func(s *server) error { return modeOverhead(ctx, cfg, s, stdout) })
	case "idle":
		err = withServer(ctx, cfg, func(s *server) error { return modeIdle(ctx, cfg, s, stdout) })
	case "coldstart":
		err = modeColdStart(ctx, cfg, stdout)
	case "limits":
		err = modeLimits(ctx, cfg, stdout)
	case "gzipbomb":
		err = modeGzipBomb(ctx, cfg, stdout)
	case "floor":
		err = modeFloor(ctx, cfg, stdout)
	}
	if err != nil {
		fmt.Fprintln(stderr, "crm-mcp-load:", err)
		return 1
	}
	return 0
}

func parse(argv []string, stderr io.Writer) (config, error) {
	var c config
	fs := flag.NewFlagSet("crm-mcp-load", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintln(stderr, `crm-mcp-load drives a crm-mcp on loopback and prints the figures as Markdown.

Modes:
  all         overhead, throughput, idle and coldstart in one run (needs --server-bin;
              spawns "crm-mcp --sandbox" with CRM_MCP_SANDBOX_UNLIMITED=true, LOG_LEVEL=warn)
  overhead    the same client alternates a direct GET to the emulator mounted at
              /sandbox/vivre/ and the tool call doing that GET; p50/p99 of each and the ratio
  throughput  N sessions (per --sessions) call --tool in a loop for --duration:
              calls/s, p50/p99, errors, server RSS
  idle        opens --idle SSE sessions (initialized, then idle) and reads the server's RSS
  coldstart   spawns "--server-bin --sandbox" in stdio mode, writes initialize, times the reply
  limits      starts the --vendor emulator with its documented limit on 127.0.0.1, spawns
              --server-bin against it (not sandbox), drives it harder than the limit for
              --duration and reports calls through ÷ calls allowed and the 429s
  gzipbomb    serves on 127.0.0.1 a Vivre that answers every request 200 with a gzip body
              inflating to 1 GiB, spawns --server-bin against it (not sandbox), has 40
              sessions (or the first --sessions value) call vivre_get_contact at once for
              --runs rounds, checks each is a too-large tool error and reports the server's
              RSS before, its peak (VmHWM) and after
  floor       in one run, a bare mcp-go server (this command re-executed, default options,
              no middleware, vivre_get_contact answered from memory) and "--server-bin
              --sandbox": --runs rounds of floor then crm-mcp, each a throughput run over
              streamable HTTP with 8 sessions (or the first --sessions value); calls/s,
              p50/p99, server CPU per call and the ratio crm-mcp/floor

Without --server-bin, --addr names a running server (loopback only) and --pid its process
for RSS.

Flags:`)
		fs.PrintDefaults()
	}
	fs.StringVar(&c.mode, "mode", "all", "all, overhead, throughput, idle, coldstart, limits, gzipbomb or floor")
	fs.StringVar(&c.addr, "addr", "", "address of a running server, e.g. 127.0.0.1:8080 (loopback only)")
	fs.IntVar(&c.pid, "pid", 0, "process id of the server at --addr, for its RSS (/proc/<pid>/status)")
	fs.StringVar(&c.serverBin, "server-bin", "", "path of a built crm-mcp to spawn (instead of --addr)")
	transports := fs.String("transports", "http,sse", "transports for throughput: http (streamable, /mcp) and/or sse (/sse + /message)")
	sessions := fs.String("sessions", "1,8,64", "concurrent sessions for throughput (comma-separated list) and for limits, gzipbomb and floor (first value; gzipbomb: 40, floor: 8 if not given)")
	fs.DurationVar(&c.duration, "duration", 10*time.Second, "measured time of one run (throughput, limits, floor); at most 15m")
	fs.DurationVar(&c.warmup, "warmup", 2*time.Second, "unmeasured calls before each throughput run")
	fs.IntVar(&c.maxCalls, "max-calls", 2_000_000, "stop a run after this many calls")
	fs.IntVar(&c.runs, "runs", 3, "runs per figure, the median is reported; gzipbomb: rounds of concurrent calls; floor: rounds of floor then crm-mcp")
	fs.StringVar(&c.tool, "tool", "vivre_get_contact", "tool to call")
	args := fs.String("args", `{"id":"cnt_8800"}`, "the tool's arguments (JSON object)")
	fs.StringVar(&c.direct, "direct", "/sandbox/vivre/contacts/cnt_8800", "the direct emulator request the tool call makes (overhead mode)")
	fs.IntVar(&c.idle, "idle", 1000, "idle SSE sessions to open (idle mode)")
	fs.StringVar(&c.vendor, "vendor", "vivre", "limits mode: vivre (free plan, 60/min) or vixiees (1 licence: 25/min, 40/2 s, 1500/h, 36000/day)")
	fs.StringVar(&c.auth, "token", os.Getenv("CRM_MCP_LOAD_TOKEN"), "bearer token for a server with MCP_AUTH_TOKENS (env CRM_MCP_LOAD_TOKEN)")
	fs.DurationVar(&c.timeout, "timeout", 30*time.Minute, "hard bound on the whole command")
	if err := fs.Parse(argv); err != nil {
		return c, err
	}
	if fs.NArg() > 0 {
		return c, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	switch c.mode {
	case "all", "overhead", "throughput", "idle", "coldstart", "limits", "gzipbomb", "floor":
	default:
		return c, fmt.Errorf("--mode %q: want all, overhead, throughput, idle, coldstart, limits, gzipbomb or floor", c.mode)
	}
	for _, t := range strings.Split(*transports, ",") {
		if t = strings.TrimSpace(t); t != "http" && t != "sse" {
			return c, fmt.Errorf("--transports: %q is not http or sse", t)
		}
		c.transports = append(c.transports, strings.TrimSpace(t))
	}
	for _, s := range strings.Split(*sessions, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || n < 1 || n > 5000 {
			return c, fmt.Errorf("--sessions: %q is not a count from 1 to 5000", s)
		}
		c.sessions = append(c.sessions, n)
	}
	c.bombSessions, c.floorSessions = 40, 8
	fs.Visit(func(f *flag.Flag) {
		if f.Name == "sessions" {
			c.bombSessions, c.floorSessions = c.sessions[0], c.sessions[0]
		}
	})
	if !json.Valid([]byte(*args)) || !strings.HasPrefix(strings.TrimSpace(*args), "{") {
		return c, fmt.Errorf("--args must be a JSON object")
	}
	c.args = json.RawMessage(*args)
	if c.duration <= 0 || c.duration > 15*time.Minute {
		return c, fmt.Errorf("--duration must be in (0, 15m]")
	}
	if c.runs < 1 || c.runs > 20 || c.maxCalls < 1 || c.idle < 1 || c.idle > 20000 {
		return c, fmt.Errorf("--runs must be 1..20, --max-calls ≥ 1, --idle 1..20000")
	}
	if c.vendor != "vivre" && c.vendor != "vixiees" {
		return c, fmt.Errorf("--vendor must be vivre or vixiees")
	}
	if c.mode == "floor" && c.tool != "vivre_get_contact" {
		return c, fmt.Errorf("--mode floor: the floor answers only vivre_get_contact, not %q", c.tool)
	}
	needBin := c.mode == "all" || c.mode == "coldstart" || c.mode == "limits" || c.mode == "gzipbomb" || c.mode == "floor"
	if needBin && c.serverBin == "" {
		return c, fmt.Errorf("--mode %s needs --server-bin", c.mode)
	}
	if c.serverBin == "" && c.addr == "" {
		return c, fmt.Errorf("give --addr of a running server or --server-bin to spawn one")
	}
	if c.addr != "" {
		a, err := loopbackAddr(c.addr)
		if err != nil {
			return c, err
		}
		c.addr = a
	}
	return c, nil
}

// sandboxEnv is the environment of a spawned sandbox server: limits lifted.
func sandboxEnv() []string { return baseEnv("CRM_MCP_SANDBOX_UNLIMITED=true") }

// withServer runs fn against --addr, or a sandbox server it spawns.
func withServer(ctx context.Context, cfg config, fn func(*server) error) error {
	if cfg.serverBin == "" {
		return fn(&server{base: "http://" + cfg.addr, pid: cfg.pid})
	}
	s, err := spawn(ctx, cfg.serverBin, []string{"--sandbox"}, sandboxEnv())
	if err != nil {
		return err
	}
	defer s.stop()
	return fn(s)
}

func modeAll(ctx context.Context, cfg config, w io.Writer) error {
	if err := withServer(ctx, cfg, func(s *server) error {
		if err := modeOverhead(ctx, cfg, s, w); err != nil {
			return err
		}
		return modeThroughput(ctx, cfg, s, w)
	}); err != nil {
		return err
	}
	// A fresh server, so the idle figure is not inflated by the load before.
	if err := withServer(ctx, cfg, func(s *server) error { return modeIdle(ctx, cfg, s, w) }); err != nil {
		return err
	}
	return modeColdStart(ctx, cfg, w)
}

func machine() string {
	model := "unknown CPU"
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(l, "model name"); ok {
				model = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(v), ":"))
				break
			}
		}
	}
	return fmt.Sprintf("%d CPU(s), %s", numCPU(), model)
}

// median of xs (xs is sorted in place).
func median[T int | float64 | time.Duration](xs []T) T {
	slices.Sort(xs)
	if len(xs) == 0 {
		return 0
	}
	return xs[len(xs)/2]
}

// percentile is the nearest-rank percentile of sorted ds.
func percentile(ds []time.Duration, p float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	i := int(float64(len(ds))*p+0.999999) - 1
	return ds[min(max(i, 0), len(ds)-1)]
}

func us(d time.Duration) string { return fmt.Sprintf("%.0f µs", float64(d)/float64(time.Microsecond)) }
