package schemas

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io/fs"
	"strings"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

// Set is the compiled JSON Schemas, for checking payloads and message headers.
type Set struct {
	envelope, attributes *jsonschema.Schema
	events               map[string]*jsonschema.Schema // by event name, e.g. job.completed
}

// Compile compiles every *.schema.json file. Formats (date-time, uri) are asserted.
func Compile() (*Set, error) {
	c := jsonschema.NewCompiler()
	c.AssertFormat()
	ids := map[string]string{} // file name → $id
	names, err := fs.Glob(files, "*.schema.json")
	if err != nil {
		return nil, err
	}
	for _, name := range names {
		raw, err := files.ReadFile(name)
		if err != nil {
			return nil, err
		}
		doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(raw))
		if err != nil {
			return nil, fmt.Errorf("schemas: %s: %w", name, err)
		}
		id, _ := doc.(map[string]any)["$id"].(string)
		if id == "" {
			return nil, fmt.Errorf("schemas: %s has no $id", name)
		}
		if err := c.AddResource(id, doc); err != nil {
			return nil, fmt.Errorf("schemas: %s: %w", name, err)
		}
		ids[name] = id
	}
	s := &Set{events: map[string]*jsonschema.Schema{}}
	for name, id := range ids {
		sch, err := c.Compile(id)
		if err != nil {
			return nil, fmt.Errorf("schemas: compile %s: %w", name, err)
		}
		switch name {
		case "envelope.schema.json":
			s.envelope = sch
		case "message-attributes.schema.json":
			s.attributes = sch
		default:
			s.events[strings.TrimSuffix(name, ".schema.json")] = sch
		}
	}
	if s.envelope == nil || s.attributes == nil {
		return nil, fmt.Errorf("schemas: envelope or message-attributes schema missing")
	}
	return s, nil
}

// ValidatePayload checks a webhook body against the envelope and, when its event
// has a schema of its own, against that too.
func (s *Set) ValidatePayload(body []byte) error {
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("schemas: payload: %w", err)
	}
	if err := s.envelope.Validate(doc); err != nil {
		return err
	}
	var env struct{ Event string }
	_ = json.Unmarshal(body, &env)
	if sch, ok := s.events[env.Event]; ok {
		return sch.Validate(doc)
	}
	return nil
}

// ValidateHeaders checks the headers of a message as read from a broker.
func (s *Set) ValidateHeaders(h map[string]string) error {
	doc := make(map[string]any, len(h))
	for k, v := range h {
		doc[k] = v
	}
	return s.attributes.Validate(doc)
}

// Events lists the events that have a schema of their own.
func (s *Set) Events() []string {
	out := make([]string, 0, len(s.events))
	for e := range s.events {
		out = append(out, e)
	}
	return out
}
