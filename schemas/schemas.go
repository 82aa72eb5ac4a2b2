// Package schemas holds the public description of what the bridge accepts and what
// it puts on a broker: JSON Schema (2020-12) of the webhook envelope, of
// job.completed and of the message headers every sink carries, sample payloads, and
// an AsyncAPI 3.0 document of the three channels. The files are embedded so code and
// tests use the very files users read.
package schemas

import (
	"embed"
	"io/fs"
)

//go:embed *.json samples/*.json asyncapi.yaml
var files embed.FS

// FS returns the schema files, with samples under samples/.
func FS() fs.FS { return files }
