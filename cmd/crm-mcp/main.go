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
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/sethvargo/go-envconfig"
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
