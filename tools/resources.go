package tools

// Records as MCP resources. Each vendor declares, in its tools/<vendor>.go
// next to its tools, a resource template for every record it can fetch by
// id (<vendor>://<collection>/{id}) and a plain resource for each small
// reference list, all read through the same vendor client as its tools
// (Clients[C]: per-request credentials, rate limits, retries) and under the
// same deadline and redaction. A read is JSON (application/json); a failed
// one is a JSON-RPC error whose message is the sentence a tool error says.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"reflect"
	"runtime/debug"
	"slices"
	"strings"
	"time"

	"github.com/mark3labs/mcp-go/mcp"
	"github.com/mark3labs/mcp-go/server"

	"github.com/crm-mcp/crm-mcp/vendors"
)

// JSONType is the MIME type of every resource crm-mcp serves.
const JSONType = "application/json"

// Resource is a record (URI a template: vivre://contacts/{id}) or a small
// reference list (a fixed URI: qyvo://templates) a vendor serves.
type Resource struct {
	Vendor      string
	URI         string // template or fixed URI; its scheme is the vendor
	Name        string // e.g. vivre_contact
	Title       string
	Description string
	// Complete names, for each {parameter} of a template, the kind of
	// record that completes it: a key of the vendor's Lookups ("contact",
	// "sequence", ...).
	Complete map[string]string
	// Read returns the JSON value of the resource with these parameters.
	Read func(ctx context.Context, params map[string]string) (any, error)
}

// reading is r read by read.
func (r Resource) reading(read func(context.Context, map[string]string) (any, error)) Resource {
	r.Read = read
	return r
}

// IsTemplate reports whether r's URI has {parameters}.
func (r Resource) IsTemplate() bool { return strings.Contains(r.URI, "{") }

// Expand is r's URI with its {parameters} filled: name, value pairs.
func (r Resource) Expand(params ...string) string {
	uri := r.URI
	for i := 0; i+1 < len(params); i += 2 {
		uri = strings.ReplaceAll(uri, "{"+params[i]+"}", escapeSegment(params[i+1]))
	}
	return uri
}

// Link is a resource_link to r with these parameters (e.g. "id", "cnt_8821").
func (r Resource) Link(params ...string) mcp.ResourceLink {
	l := mcp.NewResourceLink(r.Expand(params...), r.Name, r.Description, JSONType)
	l.Title = r.Title
	return l
}

// escapeSegment percent-encodes all but RFC 3986's unreserved characters:
// what a template's simple {id} expansion gives and matches.
func escapeSegment(s string) string {
	const hex = "0123456789ABCDEF"
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '.' || c == '_' || c == '~' {
			b.WriteByte(c)
			continue
		}
		b.WriteByte('%')
		b.WriteByte(hex[c>>4])
		b.WriteByte(hex[c&15])
	}
	return b.String()
}

// byID reads a record by the {id} of its URI through the vendor client.
func byID[C, Out any](c Clients[C], get func(context.Context, C, string) (Out, error)) func(context.Context, map[string]string) (any, error) {
	return func(ctx context.Context, p map[string]string) (any, error) {
		if strings.TrimSpace(p["id"]) == "" {
			return nil, vendors.Invalid("", "id", "the URI names no record: put its id at the end, e.g. <vendor>://contacts/<id>")
		}
		cl, err := c(ctx)
		if err != nil {
			return nil, err
		}
		return get(ctx, cl, p["id"])
	}
}

// whole reads a fixed resource (a reference list) through the vendor client.
func whole[C, Out any](c Clients[C], get func(context.Context, C) (Out, error)) func(context.Context, map[string]string) (any, error) {
	return func(ctx context.Context, _ map[string]string) (any, error) {
		cl, err := c(ctx)
		if err != nil {
			return nil, err
		}
		return get(ctx, cl)
	}
}

// linked makes t's successful results end with a resource_link to the
// record they return: r with {id} read from the result's JSON at path
// (e.g. "id", or "contact", "id"). A fixed resource needs no path.
func linked(t Tool, r Resource, path ...string) Tool {
	next, idOf := t.Handler, stringAt(path...)
	t.Handler = func(ctx context.Context, req mcp.CallToolRequest) (*mcp.CallToolResult, error) {
		res, err := next(ctx, req)
		if err != nil || res == nil || res.IsError {
			return res, err
		}
		if !r.IsTemplate() {
			res.Content = append(res.Content, r.Link())
			return res, nil
		}
		raw, _ := res.StructuredContent.(json.RawMessage)
		if id := idOf(raw); id != "" {
			res.Content = append(res.Content, r.Link("id", id))
		}
		return res, nil
	}
	return t
}

// stringAt reads the string at path in a JSON object (e.g. "contact",
// "id"), "" if there is none. It decodes into a struct made for path, so
// the rest of the object is skipped, not built (a generic decode of a
// contact cost 24 allocations per call).
func stringAt(path ...string) func(json.RawMessage) string {
	t := reflect.TypeFor[string]()
	for i := len(path) - 1; i >= 0; i-- {
		t = reflect.StructOf([]reflect.StructField{{Name: "F", Type: t, Tag: reflect.StructTag(fmt.Sprintf("json:%q", path[i]))}})
	}
	return func(raw json.RawMessage) string {
		v := reflect.New(t)
		if json.Unmarshal(raw, v.Interface()) != nil {
			return ""
		}
		e := v.Elem()
		for range path {
			e = e.Field(0)
		}
		return e.String()
	}
}

// addResources registers rs on s, each read behind the resource middleware;
// with o.Visible, resources/list and resources/templates/list leave out
// those of vendors the caller may not use.
func addResources(s *server.MCPServer, o ServerOptions, rs []Resource) {
	if len(rs) == 0 {
		return
	}
	vendorOf := map[string]string{} // URI or template -> vendor
	for _, r := range rs {
		if _, dup := vendorOf[r.URI]; dup {
			panic("resource " + r.URI + " is declared twice")
		}
		vendorOf[r.URI] = r.Vendor
		read := readHandler(o, r)
		if r.IsTemplate() {
			s.AddResourceTemplate(mcp.NewResourceTemplate(r.URI, r.Name, mcp.WithTemplateTitle(r.Title),
				mcp.WithTemplateDescription(r.Description), mcp.WithTemplateMIMEType(JSONType)), read)
			continue
		}
		s.AddResource(mcp.NewResource(r.URI, r.Name, mcp.WithResourceTitle(r.Title),
			mcp.WithResourceDescription(r.Description), mcp.WithMIMEType(JSONType)), server.ResourceHandlerFunc(read))
	}
	if o.Visible == nil {
		return
	}
	hooks := s.GetHooks()
	hooks.AddAfterListResources(func(ctx context.Context, _ any, _ *mcp.ListResourcesRequest, res *mcp.ListResourcesResult) {
		res.Resources = slices.DeleteFunc(res.Resources, func(r mcp.Resource) bool {
			v, ours := vendorOf[r.URI]
			return ours && !o.Visible(ctx, v)
		})
	})
	hooks.AddAfterListResourceTemplates(func(ctx context.Context, _ any, _ *mcp.ListResourceTemplatesRequest, res *mcp.ListResourceTemplatesResult) {
		res.ResourceTemplates = slices.DeleteFunc(res.ResourceTemplates, func(t mcp.ResourceTemplate) bool {
			if t.URITemplate == nil {
				return false
			}
			v, ours := vendorOf[t.URITemplate.Raw()]
			return ours && !o.Visible(ctx, v)
		})
	})
}

// readHandler is r's resources/read: the tool calls' deadline, redactor
// and panic recovery, the per-request visibility, the vendor call, and
// its outcome as JSON or as the tool error's sentence (vendor words made
// tool names by errorBody, secrets masked), with one log line.
func readHandler(o ServerOptions, r Resource) server.ResourceTemplateHandlerFunc {
	var tmpl *mcp.URITemplate
	if r.IsTemplate() {
		tmpl = mcp.NewResourceTemplate(r.URI, r.Name).URITemplate
	}
	return func(ctx context.Context, req mcp.ReadResourceRequest) (contents []mcp.ResourceContents, err error) {
		start := time.Now()
		if o.CallTimeout > 0 {
			var cancel context.CancelFunc
			ctx, cancel = context.WithTimeout(ctx, o.CallTimeout)
			defer cancel()
		}
		if vendors.RedactorFrom(ctx) == nil {
			ctx = vendors.WithRedactor(ctx, o.Redactor)
		}
		stats := &vendors.Stats{}
		ctx = vendors.WithStats(ctx, stats)
		red := vendors.RedactorFrom(ctx)
		outcome := "ok"
		defer func() {
			if p := recover(); p != nil {
				o.Logger.Error("resource read panicked", "resource", r.Name, "panic", fmt.Sprint(p), "stack", string(debug.Stack()))
				contents, err, outcome = nil, fmt.Errorf("internal error reading %s; the read did not complete and can be retried", r.Name), "panic"
			}
			if errors.Is(ctx.Err(), context.Canceled) {
				outcome = string(vendors.KindCancelled)
			}
			if o.Logger.Enabled(ctx, slog.LevelInfo) {
				o.Logger.LogAttrs(ctx, slog.LevelInfo, "resource read", slog.String("resource", r.Name), slog.String("vendor", r.Vendor),
					slog.String("outcome", outcome), slog.Float64("duration_ms", ms(time.Since(start))), slog.Int("attempts", stats.Attempts()),
					slog.Float64("limiter_wait_ms", ms(stats.Waited())), callerAttr(PrincipalFrom(ctx)))
			}
		}()
		fail := func(e error) ([]mcp.ResourceContents, error) {
			body := errorBody(e)
			outcome = string(body.Kind)
			return nil, errors.New(red.Redact(body.Error))
		}
		if o.Visible != nil && !o.Visible(ctx, r.Vendor) {
			outcome = "not_enabled"
			return nil, fmt.Errorf("resource not found: the %s toolset is not enabled for this caller (left out by --toolsets or X-MCP-Toolsets, "+
				"its credentials not sent, or no crm:read scope), so its resources are not served", r.Vendor)
		}
		params := map[string]string{}
		if tmpl != nil {
			for name, v := range tmpl.Match(req.Params.URI) {
				params[name] = v.String()
			}
		}
		v, err := r.Read(ctx, params)
		if err != nil {
			return fail(err)
		}
		b, err := json.Marshal(v)
		if err != nil {
			return fail(fmt.Errorf("encoding %s failed: %w", r.Name, err))
		}
		if red.Contains(b) {
			if clean, ok := rewriteJSON(b, red.Redact); ok {
				b = clean
			}
		}
		return []mcp.ResourceContents{mcp.TextResourceContents{URI: req.Params.URI, MIMEType: JSONType, Text: string(b)}}, nil
	}
}
