package prompts

import (
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/crm-mcp/crm-mcp/tools"
)

func TestPromptsRenderWithTheirArguments(t *testing.T) {
	want := []string{"enroll_in_sequence", "follow_up_new_events", "log_call", "pipeline_review", "whatsapp_follow_up"}
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

// Every argument that names a record is completed, by a kind of record the
// named vendors (or some vendor) offer; free text is not.
func TestPromptCompletionsNameRealKinds(t *testing.T) {
	offers := map[string][]string{} // kind -> vendors
	for _, v := range tools.Vendors() {
		for _, k := range v.CompletionKinds() {
			offers[k] = append(offers[k], v.Name())
		}
	}
	records := map[string]bool{"contact": true, "template": true, "sequence": true, "flow": true, "stage": true, "language": true, "vendor": true}
	all := Completions()
	for _, p := range All() {
		for _, a := range p.Def.Arguments {
			spec, ok := all[p.Def.Name][a.Name]
			if records[a.Name] != ok {
				t.Errorf("%s: argument %s completed: %v", p.Def.Name, a.Name, ok)
			}
			if !ok || len(spec.Values) > 0 {
				continue
			}
			if len(offers[spec.Kind]) == 0 {
				t.Errorf("%s: %s is completed by %q, which no vendor offers", p.Def.Name, a.Name, spec.Kind)
			}
			for _, v := range spec.Vendors {
				if !slices.Contains(offers[spec.Kind], v) {
					t.Errorf("%s: %s is completed by %s's %q, which it does not offer", p.Def.Name, a.Name, v, spec.Kind)
				}
			}
		}
	}
}

func TestCompleteLinesAreChecked(t *testing.T) {
	for _, head := range []string{
		"description: d\ncomplete nosuch: contact",
		"description: d\narg a: x\ncomplete a: contact\ncomplete a: stage",
		"description: d\narg a: x\ncomplete a: two kinds",
		"description: d\narg a: x\ncomplete a",
	} {
		if _, err := parse("p", head+"\n---\nbody"); err == nil {
			t.Errorf("accepted:\n%s", head)
		}
	}
	p, err := parse("p", "description: d\narg a: x\narg b: y\ncomplete a: contact from qyvo, vixiees\ncomplete b: one of x, y\n---\nbody")
	if err != nil || !slices.Equal(p.Complete["a"].Vendors, []string{"qyvo", "vixiees"}) || p.Complete["a"].Kind != "contact" ||
		!slices.Equal(p.Complete["b"].Values, []string{"x", "y"}) {
		t.Fatalf("%+v %v", p.Complete, err)
	}
}
