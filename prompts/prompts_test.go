package prompts

import (
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/crm-mcp/crm-mcp/tools"
)

func TestPromptsRenderWithTheirArguments(t *testing.T) {
	want := []string{"enroll_in_sequence", "log_call", "pipeline_review", "whatsapp_follow_up"}
	var names []string
	for _, p := range All() {
		names = append(names, p.Def.Name)
		args := map[string]string{}
		for _, a := range p.Def.Arguments {
			args[a.Name] = "VALUE-OF-" + a.Name
		}
		text, err := p.Render(args)
		if err != nil {
			t.Fatalf("%s: %v", p.Def.Name, err)
		}
		for _, a := range p.Def.Arguments {
			if !strings.Contains(text, "VALUE-OF-"+a.Name) {
				t.Errorf("%s: argument %s does not reach the text", p.Def.Name, a.Name)
			}
		}
		if strings.Contains(text, "<no value>") || strings.Contains(text, "{{.") {
			t.Errorf("%s: unrendered template:\n%s", p.Def.Name, text)
		}
		for _, a := range p.Def.Arguments {
			if !a.Required {
				continue
			}
			missing := map[string]string{}
			for k, v := range args {
				if k != a.Name {
					missing[k] = v
				}
			}
			if _, err := p.Render(missing); err == nil || !strings.Contains(err.Error(), a.Name) {
				t.Errorf("%s without %s: err %v, want one naming it", p.Def.Name, a.Name, err)
			}
		}
		if _, err := p.Render(map[string]string{"bogus": "x"}); err == nil {
			t.Errorf("%s: an unknown argument was accepted", p.Def.Name)
		}
	}
	if !slices.Equal(names, want) {
		t.Fatalf("prompts %v, want %v", names, want)
	}
}

// A prompt that names a tool that does not exist would send the model astray.
func TestPromptsNameOnlyRealTools(t *testing.T) {
	real := map[string]bool{}
	for _, tl := range tools.Catalog() {
		real[tl.Def.Name] = true
	}
	re := regexp.MustCompile(`\b(?:vivre|ralivi|vixiees|qyvo|nexvio|crm)_[a-z_]+\b`)
	for _, p := range All() {
		src, _ := files.ReadFile(p.Def.Name + ".md")
		for _, name := range re.FindAllString(string(src), -1) {
			if !real[name] {
				t.Errorf("%s names %s, which is not a tool", p.Def.Name, name)
			}
		}
	}
}
