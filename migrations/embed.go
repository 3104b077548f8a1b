// Package migrations holds the numbered SQL migrations, embedded so the binary
// can migrate any database it is pointed at. tern runs each file through
// text/template, so SQL here must not contain a double opening brace.
package migrations

import "embed"

//go:embed *.sql
var FS embed.FS
