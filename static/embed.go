// Package static holds the browser assets (CSS, JS, vendored htmx, images)
// compiled into the binary so a deploy is a single file.
package static

import "embed"

// FS contains css/, js/, vendor/ and img/. Paths inside it have no "static/"
// prefix, e.g. "js/app.js". Serve it with http.FileServerFS(static.FS) under
// a prefix such as /static/ (strip the prefix first).
//
//go:embed css js vendor img
var FS embed.FS
