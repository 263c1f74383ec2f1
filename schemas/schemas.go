// Package schemas holds the generated definition (name, description,
// annotations, input schema) of every tool, one JSON file per tool, checked
// in so that reviews show what a model will see. `go generate ./...`
// rewrites them; a test in tools/ fails when they drift from the code.
package schemas

import "embed"

//go:generate go run ../cmd/gendocs -schemas . -readme ../README.md

// Files are the checked-in tool definitions, <tool name>.json.
//
//go:embed *.json
var Files embed.FS
