package senders

import (
	"bytes"
	"errors"
	"io"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// document is the YAML of the senders file. Pointers tell a key left out from
// one set empty, where the rules differ (a tolerance of 0s is an error, none is
// the default).
type document struct {
	Senders []entry `yaml:"senders"`
}

type entry struct {
	Name        string            `yaml:"name"`
	Path        string            `yaml:"path"`
	Scheme      string            `yaml:"scheme"`
	SecretFile  string            `yaml:"secret_file"`
	Tolerance   *time.Duration    `yaml:"tolerance"`
	Route       *string           `yaml:"route"`
	Destination *destinationEntry `yaml:"destination"`
	HMAC        *hmacEntry        `yaml:"hmac"`
}

type destinationEntry struct {
	RabbitMQ *struct {
		Exchange *string `yaml:"exchange"`
	} `yaml:"rabbitmq"`
	SQS *struct {
		QueueURL *string `yaml:"queue_url"`
	} `yaml:"sqs"`
}

type hmacEntry struct {
	Header         string `yaml:"header"`
	Algorithm      string `yaml:"algorithm"`
	Encoding       string `yaml:"encoding"`
	Prefix         string `yaml:"prefix"`
	DeliveryHeader string `yaml:"delivery_header"`
	EventHeader    string `yaml:"event_header"`
	EventField     string `yaml:"event_field"`
}

// Decode decodes and checks the content of a senders file. It reads no file:
// Load reads the secret files. Decoding is strict — an unknown key, a key given
// twice, a value of the wrong type or a second document is an error — and every
// error is an *Error with the line, the sender and the field.
//
// The decoder with KnownFields(true) is the one judge of strictness; its errors
// carry only a line, so the file is also parsed into a tree of nodes, to find
// the sender and field at that line.
func Decode(data []byte) ([]Sender, error) {
	if len(data) > maxFile {
		return nil, &Error{Msg: "is larger than 1 MiB"}
	}
	var root yaml.Node
	if err := yaml.Unmarshal(data, &root); err != nil {
		return nil, syntaxError(err)
	}
	t := newTree(&root)
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	var doc document
	switch err := dec.Decode(&doc); {
	case errors.Is(err, io.EOF):
		return nil, &Error{Msg: "is empty: list the senders under the key senders"}
	case err != nil:
		return nil, t.decodeError(err)
	}
	var next yaml.Node
	if err := dec.Decode(&next); !errors.Is(err, io.EOF) {
		return nil, &Error{Line: next.Line, Msg: "holds more than one YAML document"}
	}
	return validate(&doc, t)
}

// syntaxError turns "yaml: line 3: did not find expected key" into an *Error
// with its line.
func syntaxError(err error) error {
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	line, rest := splitLine(msg)
	return &Error{Line: line, Msg: "not valid YAML: " + rest}
}

// splitLine splits "line 12: rest" into 12 and rest; 0 and msg otherwise.
func splitLine(msg string) (int, string) {
	head, rest, ok := strings.Cut(msg, ": ")
	if n, found := strings.CutPrefix(head, "line "); ok && found {
		if line, err := strconv.Atoi(n); err == nil {
			return line, rest
		}
	}
	return 0, msg
}

// tree is the file as nodes, to say where a line is.
type tree struct {
	top   *yaml.Node   // the document's mapping; nil when it is none
	items []*yaml.Node // the entries of senders
	ends  []int        // the last line of each entry
}

func newTree(root *yaml.Node) tree {
	var t tree
	if root.Kind != yaml.DocumentNode || len(root.Content) == 0 || root.Content[0].Kind != yaml.MappingNode {
		return t
	}
	t.top = root.Content[0]
	if list := lookup(t.top, "senders"); list != nil && list.Kind == yaml.SequenceNode {
		t.items = list.Content
		for _, it := range t.items {
			t.ends = append(t.ends, lastLine(it))
		}
	}
	return t
}

// lookup returns the value of key in mapping m, nil when absent.
func lookup(m *yaml.Node, key string) *yaml.Node {
	if m == nil || m.Kind != yaml.MappingNode {
		return nil
	}
	for j := 0; j+1 < len(m.Content); j += 2 {
		if m.Content[j].Value == key {
			return m.Content[j+1]
		}
	}
	return nil
}

// lastLine is the last line a node spans (aliases are not followed).
func lastLine(n *yaml.Node) int {
	last := n.Line
	for _, c := range n.Content {
		last = max(last, lastLine(c))
	}
	return last
}

// entryAt returns the index of the entry that spans line, or -1.
func (t tree) entryAt(line int) int {
	for i, it := range t.items {
		if it.Line <= line && line <= t.ends[i] {
			return i
		}
	}
	return -1
}

// scope is the mapping in which keys of entry i are found: the entry, or the
// document's mapping for i < 0.
func (t tree) scope(i int) *yaml.Node {
	if i < 0 {
		return t.top
	}
	return t.items[i]
}

// senderLabel names entry i as label does, reading its name from the tree
// (the decoded document is incomplete when decoding failed).
func (t tree) senderLabel(i int) string {
	if i < 0 {
		return ""
	}
	name := ""
	if n := lookup(t.items[i], "name"); n != nil && n.Kind == yaml.ScalarNode {
		name = n.Value
	}
	return label(i, name)
}

// keyLine returns the line of the key at the dotted path in entry i, or of the
// deepest part of it that exists, or of the entry.
func (t tree) keyLine(i int, path string) int {
	n := t.scope(i)
	if n == nil {
		return 0
	}
	line := n.Line
	for _, key := range strings.Split(path, ".") {
		if n == nil || n.Kind != yaml.MappingNode {
			break
		}
		var next *yaml.Node
		for j := 0; j+1 < len(n.Content); j += 2 {
			if n.Content[j].Value == key {
				line, next = n.Content[j].Line, n.Content[j+1]
			}
		}
		n = next
	}
	return line
}

// keyPath finds, depth first, the key named key at line under n; it returns its
// dotted path.
func keyPath(n *yaml.Node, line int, key, prefix string) (string, bool) {
	if n == nil || n.Kind != yaml.MappingNode {
		return "", false
	}
	for j := 0; j+1 < len(n.Content); j += 2 {
		k, v := n.Content[j], n.Content[j+1]
		p := join(prefix, k.Value)
		if k.Line == line && k.Value == key {
			return p, true
		}
		if found, ok := keyPath(v, line, key, p); ok {
			return found, true
		}
	}
	return "", false
}

// valuePath finds the deepest key whose value (or itself) is at line under n.
func valuePath(n *yaml.Node, line int, prefix string) (string, bool) {
	if n == nil || n.Kind != yaml.MappingNode {
		return "", false
	}
	for j := 0; j+1 < len(n.Content); j += 2 {
		k, v := n.Content[j], n.Content[j+1]
		p := join(prefix, k.Value)
		if found, ok := valuePath(v, line, p); ok {
			return found, true
		}
		if k.Line == line || v.Line == line {
			return p, true
		}
	}
	return "", false
}

func join(prefix, key string) string {
	if prefix == "" {
		return key
	}
	return prefix + "." + key
}

// decodeError rewrites the first of the decoder's errors with the sender and the
// field. yaml's own text is not kept: it quotes values (up to seven characters),
// and a value is where a secret pasted by mistake would be.
func (t tree) decodeError(err error) error {
	var te *yaml.TypeError
	if !errors.As(err, &te) || len(te.Errors) == 0 {
		line, rest := splitLine(strings.TrimPrefix(err.Error(), "yaml: "))
		return &Error{Line: line, Msg: rest}
	}
	line, msg := splitLine(te.Errors[0])
	i := t.entryAt(line)
	e := &Error{Line: line, Sender: t.senderLabel(i)}
	scope := t.scope(i)
	switch {
	case strings.HasPrefix(msg, "field ") && strings.Contains(msg, " not found in type "):
		key := strings.TrimPrefix(msg[:strings.Index(msg, " not found in type ")], "field ")
		e.Field, _ = keyPath(scope, line, key, "")
		e.Msg = "unknown key"
	case strings.HasPrefix(msg, "mapping key ") && strings.Contains(msg, " already defined at line "):
		quoted, first, _ := strings.Cut(strings.TrimPrefix(msg, "mapping key "), " already defined at line ")
		key, _ := strconv.Unquote(quoted)
		e.Field, _ = keyPath(scope, line, key, "")
		e.Msg = "given twice (first at line " + first + ")"
	case strings.HasPrefix(msg, "field ") && strings.Contains(msg, " already set in type "):
		key := strings.TrimPrefix(msg[:strings.Index(msg, " already set in type ")], "field ")
		e.Field, _ = keyPath(scope, line, key, "")
		e.Msg = "given twice"
	case strings.HasPrefix(msg, "cannot unmarshal "):
		e.Field, _ = valuePath(scope, line, "")
		e.Msg = "must be " + expected(i >= 0, e.Field)
	default:
		e.Msg = "invalid value"
	}
	return e
}

// expected describes the value a key takes.
func expected(inSender bool, path string) string {
	switch {
	case !inSender && path == "":
		return "a mapping with the key senders"
	case !inSender && path == "senders":
		return "a list of senders"
	case path == "":
		return "a mapping of the sender's settings"
	case path == "tolerance":
		return "a duration such as 5m or 90s"
	case path == "destination" || path == "destination.rabbitmq" || path == "destination.sqs" || path == "hmac":
		return "a mapping"
	}
	return "a string"
}
