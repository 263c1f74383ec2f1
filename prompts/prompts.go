// Package prompts holds crm-mcp's MCP prompts as text files, embedded.
//
// Each <name>.md file is a small header, a line "---", and a text/template
// body. The header has one "description: ..." line and one line per
// argument: "arg <name> (required): <description>" (drop "(required)" for
// an optional one). Arguments are available in the body as {{.name}}.
//
// An argument that names a record is completed (completion/complete) when
// the header says how: "complete <arg>: <kind>" offers the names of that
// kind of record (contact, template, sequence, flow, stage, language) from
// every vendor that has them, "complete <arg>: <kind> from qyvo, vixiees"
// from those vendors only, and "complete <arg>: one of a, b" a fixed list.
package prompts

import (
	"bytes"
	"context"
	"embed"
	"fmt"
	"path"
	"slices"
	"strings"
	"sync"
	"text/template"

	"github.com/mark3labs/mcp-go/mcp"
	"github.com/mark3labs/mcp-go/server"

	"github.com/crm-mcp/crm-mcp/tools"
)

//go:embed *.md
var files embed.FS

// Prompt is one parsed prompt file.
type Prompt struct {
	Def mcp.Prompt
	// Complete says, per argument, what completes it.
	Complete map[string]tools.ArgCompletion
	body     *template.Template
}

// All is every prompt file, parsed once (Server and Completions both read
// them at start). It panics on a malformed file: a programming error every
// test run catches.
func All() []Prompt { return all() }

var all = sync.OnceValue(func() []Prompt {
	names, _ := files.ReadDir(".")
	var out []Prompt
	for _, f := range names {
		src, _ := files.ReadFile(f.Name())
		p, err := parse(strings.TrimSuffix(f.Name(), path.Ext(f.Name())), string(src))
		if err != nil {
			panic(fmt.Sprintf("prompts/%s: %v", f.Name(), err))
		}
		out = append(out, p)
	}
	return out
})

func parse(name, src string) (Prompt, error) {
	head, body, ok := strings.Cut(src, "\n---\n")
	if !ok {
		return Prompt{}, fmt.Errorf("no --- line between header and body")
	}
	p := Prompt{Def: mcp.Prompt{Name: name}, Complete: map[string]tools.ArgCompletion{}}
	var completes []string
	for _, line := range strings.Split(strings.TrimSpace(head), "\n") {
		switch {
		case strings.HasPrefix(line, "complete "):
			completes = append(completes, strings.TrimPrefix(line, "complete "))
		case strings.HasPrefix(line, "description: "):
			p.Def.Description = strings.TrimPrefix(line, "description: ")
		case strings.HasPrefix(line, "arg "):
			spec, desc, ok := strings.Cut(strings.TrimPrefix(line, "arg "), ": ")
			if !ok {
				return Prompt{}, fmt.Errorf("argument line %q has no description", line)
			}
			argName, required := strings.CutSuffix(spec, " (required)")
			p.Def.Arguments = append(p.Def.Arguments, mcp.PromptArgument{Name: argName, Description: desc, Required: required})
		default:
			return Prompt{}, fmt.Errorf("unknown header line %q", line)
		}
	}
	if p.Def.Description == "" {
		return Prompt{}, fmt.Errorf("no description")
	}
	for _, c := range completes {
		arg, spec, err := parseComplete(c)
		if err != nil {
			return Prompt{}, err
		}
		if !slices.ContainsFunc(p.Def.Arguments, func(a mcp.PromptArgument) bool { return a.Name == arg }) {
			return Prompt{}, fmt.Errorf("complete line for %q, which is not an argument", arg)
		}
		if _, dup := p.Complete[arg]; dup {
			return Prompt{}, fmt.Errorf("argument %q has two complete lines", arg)
		}
		p.Complete[arg] = spec
	}
	t, err := template.New(name).Option("missingkey=zero").Parse(body)
	if err != nil {
		return Prompt{}, err
	}
	p.body = t
	return p, nil
}

// parseComplete reads "<arg>: <kind> [from <vendor>, ...]" or
// "<arg>: one of <value>, ...".
func parseComplete(line string) (string, tools.ArgCompletion, error) {
	arg, spec, ok := strings.Cut(line, ": ")
	if !ok || arg == "" || strings.TrimSpace(spec) == "" {
		return "", tools.ArgCompletion{}, fmt.Errorf("complete line %q: want \"complete <arg>: <kind> [from <vendor>, ...]\" or \"complete <arg>: one of <value>, ...\"", line)
	}
	list := func(s string) []string {
		var out []string
		for _, v := range strings.Split(s, ",") {
			if v = strings.TrimSpace(v); v != "" {
				out = append(out, v)
			}
		}
		return out
	}
	if values, ok := strings.CutPrefix(spec, "one of "); ok {
		return arg, tools.ArgCompletion{Values: list(values)}, nil
	}
	kind, from, _ := strings.Cut(spec, " from ")
	if kind = strings.TrimSpace(kind); strings.ContainsAny(kind, " ,") {
		return "", tools.ArgCompletion{}, fmt.Errorf("complete line %q: %q is not one kind of record", line, kind)
	}
	return arg, tools.ArgCompletion{Kind: kind, Vendors: list(from)}, nil
}

// Completions are what completes each prompt's arguments: prompt name ->
// argument -> what completes it.
func Completions() map[string]map[string]tools.ArgCompletion {
	out := map[string]map[string]tools.ArgCompletion{}
	for _, p := range All() {
		if len(p.Complete) > 0 {
			out[p.Def.Name] = p.Complete
		}
	}
	return out
}

// Render fills the prompt with args; a missing required or unknown
// argument is an error that names it.
func (p Prompt) Render(args map[string]string) (string, error) {
	data := map[string]string{}
	for _, a := range p.Def.Arguments {
		v := strings.TrimSpace(args[a.Name])
		if a.Required && v == "" {
			return "", fmt.Errorf("argument %q is required: %s", a.Name, a.Description)
		}
		data[a.Name] = v
	}
	for k := range args {
		if !slices.ContainsFunc(p.Def.Arguments, func(a mcp.PromptArgument) bool { return a.Name == k }) {
			return "", fmt.Errorf("unknown argument %q", k)
		}
	}
	var b bytes.Buffer
	if err := p.body.Execute(&b, data); err != nil {
		return "", err
	}
	return strings.TrimSpace(b.String()), nil
}

// Server returns the prompts ready for server.MCPServer.AddPrompts.
func Server() []server.ServerPrompt {
	var out []server.ServerPrompt
	for _, p := range All() {
		out = append(out, server.ServerPrompt{Prompt: p.Def, Handler: func(_ context.Context, req mcp.GetPromptRequest) (*mcp.GetPromptResult, error) {
			text, err := p.Render(req.Params.Arguments)
			if err != nil {
				return nil, err
			}
			return mcp.NewGetPromptResult(p.Def.Description, []mcp.PromptMessage{
				mcp.NewPromptMessage(mcp.RoleUser, mcp.NewTextContent(text)),
			}), nil
		}})
	}
	return out
}
