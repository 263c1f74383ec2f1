package tools

import (
	"log/slog"
	"time"

	"github.com/mark3labs/mcp-go/server"

	"github.com/crm-mcp/crm-mcp/vendors"
	"github.com/crm-mcp/crm-mcp/vendors/dedupe"
)

// ServerOptions configure the MCP server that carries the tools.
type ServerOptions struct {
	Name, Version string
	Tools         []Tool
	Prompts       []server.ServerPrompt
	Logger        *slog.Logger
	CallTimeout   time.Duration // per tool call; 0 means none
	Observe       CallObserver
	Dedupe        dedupe.Store      // duplicate-send guard; nil: a new in-process one
	Redactor      *vendors.Redactor // the app's keys, masked in every result and log line
	Instructions  string
	Extra         []server.ServerOption // e.g. a per-request tool filter
}

// NewServer builds the MCP server with every tool registered behind the
// call middleware.
func NewServer(o ServerOptions) *server.MCPServer {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Dedupe == nil {
		o.Dedupe = dedupe.NewMemory()
	}
	opts := []server.ServerOption{
		server.WithToolCapabilities(false),
		server.WithToolHandlerMiddleware(Middleware(o)),
	}
	if o.Instructions != "" {
		opts = append(opts, server.WithInstructions(o.Instructions))
	}
	opts = append(opts, o.Extra...)
	if len(o.Prompts) > 0 {
		opts = append(opts, server.WithPromptCapabilities(false))
	}
	s := server.NewMCPServer(o.Name, o.Version, opts...)
	Add(s, o.Tools)
	s.AddPrompts(o.Prompts...)
	return s
}
