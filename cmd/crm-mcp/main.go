// Command crm-mcp is a Model Context Protocol server for the CRM and
// WhatsApp tools a sales team uses: every vendor operation is a tool.
//
//	crm-mcp --sandbox                  # stdio, in-process emulated vendors
//	crm-mcp --transport http --addr 127.0.0.1:8080
//
// Every flag is also an env var (see README.md); flags win.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/lmittmann/tint"
	"github.com/mark3labs/mcp-go/server"
	"github.com/redis/go-redis/v9"
	"github.com/sethvargo/go-envconfig"

	"github.com/crm-mcp/crm-mcp/prompts"
	"github.com/crm-mcp/crm-mcp/tools"
	"github.com/crm-mcp/crm-mcp/vendors"
	"github.com/crm-mcp/crm-mcp/vendors/dedupe"
	"github.com/crm-mcp/crm-mcp/vendors/ratelimit"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], envconfig.OsLookuper(), os.Stdin, os.Stdout, os.Stderr))
}

// Config is the server's own configuration (vendors read theirs in wiring).
type Config struct {
	Transport   string        `env:"CRM_MCP_TRANSPORT, default=stdio"`
	Addr        string        `env:"CRM_MCP_ADDR, default=127.0.0.1:8080"`
	Sandbox     bool          `env:"CRM_MCP_SANDBOX"`
	Toolsets    []string      `env:"CRM_MCP_TOOLSETS"`
	ReadOnly    bool          `env:"CRM_MCP_READ_ONLY"`
	CallTimeout time.Duration `env:"CRM_MCP_CALL_TIMEOUT, default=30s"`
	LogLevel    string        `env:"LOG_LEVEL, default=info"`
	LogFormat   string        `env:"LOG_FORMAT, default=text"`

	// Shared state across replicas: rate-limit budgets and the duplicate-send guard.
	RedisURL string `env:"REDIS_URL"`

	// Hosted mode (HTTP).
	AuthTokens        []string      `env:"MCP_AUTH_TOKENS"`
	AllowedOrigins    []string      `env:"MCP_ALLOWED_ORIGINS"`
	AllowedHosts      []string      `env:"MCP_ALLOWED_HOSTS"`
	InsecureNoAuth    bool          `env:"CRM_MCP_INSECURE_NO_AUTH"`
	ClientCredentials bool          `env:"CRM_MCP_CLIENT_CREDENTIALS"`
	MaxBodyBytes      int64         `env:"CRM_MCP_MAX_BODY_BYTES, default=1048576"`
	ShutdownGrace     time.Duration `env:"CRM_MCP_SHUTDOWN_GRACE, default=25s"`
	// SandboxUnlimited lifts the emulated vendors' limits (load tests only).
	SandboxUnlimited bool `env:"CRM_MCP_SANDBOX_UNLIMITED"`
}

// run is main without the process: testable, returns the exit code.
func run(ctx context.Context, args []string, env envconfig.Lookuper, stdin io.Reader, stdout, stderr io.Writer) int {
	var cfg Config
	if err := envconfig.ProcessWith(ctx, &envconfig.Config{Target: &cfg, Lookuper: env}); err != nil {
		fmt.Fprintln(stderr, "crm-mcp: configuration:", err)
		return 2
	}
	showVersion, err := parseFlags(&cfg, args, stderr)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if showVersion {
		fmt.Fprintln(stdout, "crm-mcp", version)
		return 0
	}
	log, err := newLogger(cfg.LogLevel, cfg.LogFormat, stderr)
	if err != nil {
		fmt.Fprintln(stderr, "crm-mcp:", err)
		return 2
	}
	app, err := build(ctx, cfg, env, log)
	if err != nil {
		log.Error(err.Error())
		return 1
	}
	switch cfg.Transport {
	case "stdio":
		if f, ok := stdin.(*os.File); ok && isTerminal(f) {
			log.Info("speaking MCP over stdin/stdout: start it from an MCP client (Claude Desktop, Cursor, VS Code), or try " +
				"go build ./cmd/crm-mcp && npx @modelcontextprotocol/inspector --cli ./crm-mcp --sandbox --method tools/list; " +
				"--transport http serves /mcp and /sse instead")
		}
		err = serveStdio(ctx, app, stdin, stdout)
	case "http":
		err = serveHTTP(ctx, app, cfg.Addr)
	}
	if err != nil {
		log.Error("server stopped", "error", err)
		return 1
	}
	return 0
}

// parseFlags applies command-line flags over the env-derived cfg.
func parseFlags(cfg *Config, args []string, stderr io.Writer) (version bool, err error) {
	fs := flag.NewFlagSet("crm-mcp", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&cfg.Transport, "transport", cfg.Transport, "stdio or http (sse is a synonym of http: /mcp, /sse and /healthz on one listener)")
	fs.StringVar(&cfg.Addr, "addr", cfg.Addr, "listen address in http mode")
	fs.BoolVar(&cfg.Sandbox, "sandbox", cfg.Sandbox, "use in-process emulators of every vendor (no API keys needed)")
	toolsets := fs.String("toolsets", strings.Join(cfg.Toolsets, ","), "comma-separated toolsets to expose (default all configured)")
	fs.BoolVar(&cfg.ReadOnly, "read-only", cfg.ReadOnly, "expose only tools that change nothing")
	fs.DurationVar(&cfg.CallTimeout, "call-timeout", cfg.CallTimeout, "deadline of one tool call")
	fs.BoolVar(&cfg.InsecureNoAuth, "insecure-no-auth", cfg.InsecureNoAuth, "allow http on a non-loopback address without MCP_AUTH_TOKENS")
	fs.BoolVar(&version, "version", false, "print the version and exit")
	if err := fs.Parse(args); err != nil {
		return false, err
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "crm-mcp: unexpected argument %q\n", fs.Arg(0))
		return false, errors.New("unexpected argument")
	}
	cfg.Toolsets = splitList(*toolsets)
	if cfg.Transport == "sse" {
		cfg.Transport = "http"
	}
	switch cfg.Transport {
	case "stdio", "http":
	default:
		fmt.Fprintf(stderr, "crm-mcp: --transport (CRM_MCP_TRANSPORT) must be stdio or http, not %q\n", cfg.Transport)
		return false, errors.New("bad transport")
	}
	return version, nil
}

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, strings.ToLower(p))
		}
	}
	return out
}

// newLogger writes to stderr only: in stdio mode stdout carries JSON-RPC.
func newLogger(level, format string, w io.Writer) (*slog.Logger, error) {
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("LOG_LEVEL must be debug, info, warn or error, not %q", level)
	}
	w = redactingWriter{w}
	switch format {
	case "json":
		return slog.New(slog.NewJSONHandler(w, &slog.HandlerOptions{Level: lv})), nil
	case "text", "":
		return slog.New(tint.NewTextHandler(w, &tint.Options{Level: lv, TimeFormat: time.TimeOnly, NoColor: !isTerminal(w)})), nil
	}
	return nil, fmt.Errorf("LOG_FORMAT must be text or json, not %q", format)
}

// redactingWriter passes every log line through vendors.Redact, so no
// registered credential is written, whatever a message or attribute holds.
type redactingWriter struct{ w io.Writer }

func (r redactingWriter) Write(p []byte) (int, error) {
	if _, err := io.WriteString(r.w, vendors.Redact(string(p))); err != nil {
		return 0, err
	}
	return len(p), nil
}

func isTerminal(w io.Writer) bool {
	if r, ok := w.(redactingWriter); ok {
		w = r.w
	}
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

// app is everything a transport needs.
type app struct {
	cfg          Config
	log          *slog.Logger
	mcp          *server.MCPServer
	metrics      *metrics
	emulators    map[string]http.Handler // --sandbox only
	toolsetOf    map[string]string       // tool name -> toolset
	envVendors   map[string]bool         // toolsets enabled for every caller
	vendorByName map[string]vendor
	close        func()
}

// build wires the configured vendors (or the emulators) into an MCP server.
func build(ctx context.Context, cfg Config, env envconfig.Lookuper, log *slog.Logger) (*app, error) {
	a := &app{cfg: cfg, log: log, metrics: newMetrics(), emulators: map[string]http.Handler{}, toolsetOf: map[string]string{},
		envVendors: map[string]bool{}, vendorByName: map[string]vendor{}, close: func() {}}
	if err := a.checkExposure(); err != nil {
		return nil, err
	}
	opts := vendors.Options{Limiter: ratelimit.NewMemory(), Logger: log, Observe: a.metrics.observeVendor, Unlimited: cfg.Sandbox && cfg.SandboxUnlimited}
	var store dedupe.Store = dedupe.NewMemory()
	if cfg.RedisURL != "" {
		ropt, err := redis.ParseURL(cfg.RedisURL)
		if err != nil {
			return nil, fmt.Errorf("REDIS_URL: %w", err)
		}
		rdb := redis.NewClient(ropt)
		pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		if err := rdb.Ping(pctx).Err(); err != nil {
			_ = rdb.Close()
			return nil, fmt.Errorf("REDIS_URL: cannot reach Redis at %s: %w", ropt.Addr, err)
		}
		opts.Limiter, store = ratelimit.NewRedis(rdb), dedupe.NewRedis(rdb)
		a.close = func() { _ = rdb.Close() }
		log.Info("sharing rate limits and the duplicate-send guard through Redis", "addr", ropt.Addr)
	}
	perRequest := cfg.ClientCredentials && cfg.Transport == "http" && !cfg.Sandbox
	var all []tools.Tool
	var names []string
	var sources []tools.ContactSource
	var ignored []string // vendors whose keys --sandbox leaves unused
	for _, v := range allVendors() {
		ok, err := v.load(ctx, env)
		if err != nil {
			return nil, err
		}
		var ts []tools.Tool
		var src tools.ContactSource
		switch {
		case cfg.Sandbox:
			var h http.Handler
			ts, src, h = v.sandbox(opts)
			a.emulators[v.name()] = h
			if ok {
				ignored = append(ignored, v.name())
			}
		case ok || perRequest:
			ts, src = v.tools(ctx, opts, env, ok, perRequest)
		default:
			continue
		}
		a.envVendors[v.name()] = ok || cfg.Sandbox
		a.vendorByName[v.name()] = v
		all = append(all, ts...)
		sources = append(sources, src)
		names = append(names, v.name())
	}
	if len(names) == 0 {
		return nil, fmt.Errorf("no vendor is configured: set the credentials of at least one of %s, or run with --sandbox (CRM_MCP_SANDBOX=true) to try every tool against built-in emulators", envHints())
	}
	all = append(all, tools.CRM(sources)...)
	if cfg.Sandbox {
		log.Warn("sandbox mode: every vendor is an in-process emulator with sample data; nothing reaches a real vendor", "vendors", names)
		if len(ignored) > 0 {
			log.Warn("sandbox mode ignores the API keys set in the environment", "vendors", ignored)
		}
	}
	for _, ts := range cfg.Toolsets {
		if ts != "crm" && !slices.Contains(names, ts) {
			return nil, fmt.Errorf("--toolsets (CRM_MCP_TOOLSETS): %q is not a configured toolset; configured: crm, %s", ts, strings.Join(names, ", "))
		}
	}
	exposed := tools.Filter(all, cfg.Toolsets, cfg.ReadOnly)
	for _, t := range exposed {
		a.toolsetOf[t.Def.Name] = t.Toolset
	}
	a.mcp = tools.NewServer(tools.ServerOptions{
		Name: "crm-mcp", Version: version, Tools: exposed, Prompts: prompts.Server(), Logger: log, CallTimeout: cfg.CallTimeout,
		Observe: a.metrics.observeCall, Dedupe: store, Instructions: instructions(names, cfg.Sandbox),
		Extra: []server.ServerOption{server.WithToolFilter(a.toolFilter)},
	})
	log.Info("crm-mcp ready", "version", version, "transport", cfg.Transport, "toolsets", names, "tools", len(exposed),
		"read_only", cfg.ReadOnly, "client_credentials", perRequest)
	return a, nil
}

// checkExposure refuses to serve HTTP beyond loopback with no tokens.
func (a *app) checkExposure() error {
	if a.cfg.Transport != "http" || len(a.cfg.AuthTokens) > 0 || isLoopback(hostname(a.cfg.Addr)) {
		return nil
	}
	if a.cfg.InsecureNoAuth {
		a.log.Warn("INSECURE: serving on a non-loopback address without MCP_AUTH_TOKENS; anyone who can reach it can use every tool and every vendor key", "addr", a.cfg.Addr)
		return nil
	}
	return fmt.Errorf("refusing to listen on %s without MCP_AUTH_TOKENS: anyone who can reach it could message your customers. Set MCP_AUTH_TOKENS (comma-separated bearer tokens), bind to 127.0.0.1, or pass --insecure-no-auth", a.cfg.Addr)
}

func instructions(vendors []string, sandbox bool) string {
	s := "Tools for the sales team's CRM and WhatsApp vendors (" + strings.Join(vendors, ", ") + "); each tool name starts with its vendor. " +
		"List tools page with limit and cursor (pass next_cursor back). Errors say which argument to fix or when to retry."
	if sandbox {
		s += " Sandbox: every vendor is an emulator with sample data; nothing reaches real customers."
	}
	return s
}
