// Command gendocs writes what is generated from the tool definitions: one
// JSON file per tool under schemas/ (its tools/list entry: annotations,
// description, input and output schemas) and the tool table in README.md
// (between the tool-table markers), headed by the two tools/list budgets.
// Run through `go generate ./...`.
package main

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"path/filepath"

	"github.com/crm-mcp/crm-mcp/tools"
)

func main() {
	dir := flag.String("schemas", "schemas", "folder for <tool>.json")
	readme := flag.String("readme", "README.md", "README to update")
	flag.Parse()
	if err := run(*dir, *readme); err != nil {
		fmt.Fprintln(os.Stderr, "gendocs:", err)
		os.Exit(1)
	}
}

func run(dir, readme string) error {
	all := tools.Catalog()
	old, _ := filepath.Glob(filepath.Join(dir, "*.json"))
	for _, f := range old {
		if err := os.Remove(f); err != nil {
			return err
		}
	}
	for _, t := range all {
		b, err := tools.Snapshot(t)
		if err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(dir, t.Def.Name+".json"), b, 0o644); err != nil {
			return err
		}
	}
	src, err := os.ReadFile(readme)
	if err != nil {
		return err
	}
	out, err := tools.ReplaceTable(src, tools.Table(all))
	if err != nil {
		return err
	}
	if !bytes.Equal(out, src) {
		return os.WriteFile(readme, out, 0o644)
	}
	return nil
}
