package tools

import (
	"context"
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
	// Resources are the vendors' records and reference lists, read behind
	// the same deadline and redaction as the tools.
	Resources []Resource
	// Lookups complete resource parameters and prompt arguments; with
	// PromptCompletions (prompt -> argument -> what completes it) they make
	// the server offer completion/complete.
	Lookups           []Lookups
	PromptCompletions map[string]map[string]ArgCompletion
	// Visible says whether this request may use a vendor's resources and
	// completions (nil: always): the per-request toolset, credential and
	// scope narrowing the tools get from a tool filter.
	Visible func(ctx context.Context, vendor string) bool
	// Confirm says when sends and deletes ask the person first ("": auto);
	// ConfirmKey signs the questions' request states: the same key on
	// every replica (nil: a random one, this process only). See confirm.go.
	Confirm    ConfirmPolicy
	ConfirmKey []byte
	// Events, if set, serves the vendor event log: its resources
	// (events://<vendor>) with subscriptions, and leaves its tool
	// (Events.Tools, to be among Tools) out for callers who may see no
	// vendor's events (see events.go).
	Events *Events
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
		server.WithHooks(&server.Hooks{}), // resources' list filters are added to it (or to Extra's)
		server.WithToolCapabilities(false),
		server.WithToolHandlerMiddleware(Middleware(o)),
	}
	subscribe := o.Events != nil && len(o.Events.o.Vendors) > 0
	if len(o.Resources) > 0 || subscribe {
		opts = append(opts, server.WithResourceCapabilities(subscribe, false))
	}
	if o.Events != nil {
		opts = append(opts, server.WithToolFilter(o.Events.toolFilter))
	}
	if len(o.Lookups) > 0 || len(o.PromptCompletions) > 0 {
		c := newCompleter(o)
		opts = append(opts, server.WithCompletions(), server.WithPromptCompletionProvider(c), server.WithResourceCompletionProvider(c))
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
	addResources(s, o, o.Resources)
	if o.Events != nil {
		o.Events.attach(s, o)
	}
	return s
}
