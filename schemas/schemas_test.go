package schemas_test

import (
	"io/fs"
	"os"
	"path"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/audiospliter/audiospliter-bridge/schemas"
)

func compile(t *testing.T) *schemas.Set {
	t.Helper()
	s, err := schemas.Compile()
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestSamplesValidate(t *testing.T) {
	s := compile(t)
	samples, _ := fs.Glob(schemas.FS(), "samples/*.json")
	if len(samples) < 2 {
		t.Fatalf("samples: %v", samples)
	}
	for _, name := range samples {
		raw, _ := fs.ReadFile(schemas.FS(), name)
		if err := s.ValidatePayload(raw); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
	// The sample is the contract's own test vector.
	shared, err := os.ReadFile("../bridge/testdata/job.completed.json")
	if err != nil {
		t.Fatal(err)
	}
	mine, _ := fs.ReadFile(schemas.FS(), "samples/job.completed.json")
	if strings.TrimSpace(string(shared)) != strings.TrimSpace(string(mine)) {
		t.Error("samples/job.completed.json differs from the shared test vector")
	}
}

func TestPayloadSchemasReject(t *testing.T) {
	s := compile(t)
	for _, body := range []string{
		`{}`,
		`{"event":""}`,
		`{"event":7}`,
		`[]`,
		`{"event":"job.completed","jobId":"j","data":{}}`,
		`{"event":"job.completed","jobId":"j","data":{"segments":[{"index":-1,"downloadUrl":"https://x/0.mp3","duration":1}]}}`,
		`{"event":"job.completed","jobId":"j","data":{"segments":[{"index":0,"downloadUrl":"not a uri","duration":1}]}}`,
		`{"event":"job.completed","jobId":"j","data":{"segments":[{"index":0,"downloadUrl":"https://x/0.mp3"}]}}`,
	} {
		if err := s.ValidatePayload([]byte(body)); err == nil {
			t.Errorf("%s validated", body)
		}
	}
	if err := s.ValidatePayload([]byte(`{"event":"job.invented","anything":[1,2]}`)); err != nil {
		t.Errorf("an unknown event must validate against the envelope: %v", err)
	}
}

func TestAttributeSchema(t *testing.T) {
	s := compile(t)
	good := map[string]string{
		"ce-specversion": "1.0", "ce-id": "dlv_1", "ce-type": "com.audiospliter.job.completed",
		"ce-source": "audiospliter", "ce-time": "2026-11-27T18:21:40.06432862Z", "content-type": "application/json",
		"audiospliter-delivery": "dlv_1", "audiospliter-event": "job.completed",
		"audiospliter-signature": "f32af53104cab094ec6496cc4ef261af6e02ec52ac5e1483caf35a29e54a9a76",
		"Nats-Msg-Id":            "dlv_1",
	}
	if err := s.ValidateHeaders(good); err != nil {
		t.Fatalf("good headers: %v", err)
	}
	for k, v := range map[string]string{"ce-specversion": "0.3", "ce-time": "yesterday", "ce-id": "a b", "audiospliter-signature": "xyz"} {
		bad := map[string]string{}
		for kk, vv := range good {
			bad[kk] = vv
		}
		bad[k] = v
		if err := s.ValidateHeaders(bad); err == nil {
			t.Errorf("%s=%q validated", k, v)
		}
	}
	// BRIDGE_FORWARD_SIGNATURE=false leaves the signature out.
	delete(good, "audiospliter-signature")
	if err := s.ValidateHeaders(good); err != nil {
		t.Errorf("headers without the signature: %v", err)
	}
	delete(good, "ce-id")
	if err := s.ValidateHeaders(good); err == nil {
		t.Error("headers without ce-id validated")
	}
}

// With a senders file: ce-source and audiospliter-sender are the sender's name,
// ce-type may be the bare event, and the signature is the sender's own header as
// received, in its scheme's form; anything else is still refused.
func TestAttributeSchemaSenders(t *testing.T) {
	s := compile(t)
	good := map[string]string{
		"ce-specversion": "1.0", "ce-id": "evt_1", "ce-type": "invoice.paid",
		"ce-source": "billing", "ce-time": "2026-11-27T18:21:40.06432862Z", "content-type": "application/json",
		"audiospliter-delivery": "evt_1", "audiospliter-event": "invoice.paid", "audiospliter-sender": "billing",
	}
	for scheme, sig := range map[string]string{
		"audiospliter":                   "sha256=F32AF53104CAB094EC6496CC4EF261AF6E02EC52AC5E1483CAF35A29E54A9A76",
		"github":                         "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17",
		"standard-webhooks":              "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=",
		"standard-webhooks, two entries": "v1a,abc v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=",
		"stripe":                         "t=1700000000,v1=34961433d6d697848f61db0c15fe2a6b181aac357da33cba70ede4be389e9350,v0=00",
		"hmac sha512 base64":             "sha512=" + strings.Repeat("A", 86) + "==",
		"hmac sha1 hex":                  strings.Repeat("a", 40),
	} {
		h := map[string]string{"audiospliter-signature": sig}
		for k, v := range good {
			h[k] = v
		}
		if err := s.ValidateHeaders(h); err != nil {
			t.Errorf("%s: %v", scheme, err)
		}
	}
	for k, v := range map[string]string{
		"audiospliter-sender":    "Billing",
		"audiospliter-signature": "v1,short",
	} {
		h := map[string]string{}
		for kk, vv := range good {
			h[kk] = vv
		}
		h[k] = v
		if err := s.ValidateHeaders(h); err == nil {
			t.Errorf("%s=%q validated", k, v)
		}
	}
	for _, sig := range []string{"t=1700000000", "xyz", "t=1,v1=zz"} {
		h := map[string]string{"audiospliter-signature": sig}
		for k, v := range good {
			h[k] = v
		}
		if err := s.ValidateHeaders(h); err == nil {
			t.Errorf("signature %q validated", sig)
		}
	}
}

// The AsyncAPI document parses, says it is 3.0, and every $ref in it resolves: to
// a node of the document itself or to a schema file beside it.
func TestAsyncAPIRefsResolve(t *testing.T) {
	raw, err := fs.ReadFile(schemas.FS(), "asyncapi.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	if err := yaml.Unmarshal(raw, &doc); err != nil {
		t.Fatalf("asyncapi.yaml: %v", err)
	}
	if doc["asyncapi"] != "3.0.0" {
		t.Errorf("asyncapi = %v", doc["asyncapi"])
	}
	for _, section := range []string{"info", "servers", "channels", "operations", "components"} {
		if _, ok := doc[section]; !ok {
			t.Errorf("no %s", section)
		}
	}
	channels, _ := doc["channels"].(map[string]any)
	for _, want := range []string{"rabbitmqExchange", "rabbitmqQueue", "natsSubjects", "sqsQueue"} {
		if _, ok := channels[want]; !ok {
			t.Errorf("no channel %s", want)
		}
	}
	refs := 0
	var walk func(node any)
	walk = func(node any) {
		switch n := node.(type) {
		case map[string]any:
			if ref, ok := n["$ref"].(string); ok {
				refs++
				if err := resolve(doc, ref); err != nil {
					t.Errorf("$ref %s: %v", ref, err)
				}
			}
			for _, v := range n {
				walk(v)
			}
		case []any:
			for _, v := range n {
				walk(v)
			}
		}
	}
	walk(doc)
	if refs < 20 {
		t.Errorf("only %d $refs found: the walk is broken", refs)
	}
}

func resolve(doc map[string]any, ref string) error {
	file, pointer, _ := strings.Cut(ref, "#")
	if file != "" {
		if _, err := fs.Stat(schemas.FS(), path.Clean(file)); err != nil {
			return err
		}
		if pointer == "" {
			return nil
		}
		return nil // pointers into schema files are checked by compiling them
	}
	var node any = doc
	for _, tok := range strings.Split(strings.TrimPrefix(pointer, "/"), "/") {
		tok = strings.ReplaceAll(strings.ReplaceAll(tok, "~1", "/"), "~0", "~")
		m, ok := node.(map[string]any)
		if !ok {
			return fs.ErrNotExist
		}
		if node, ok = m[tok]; !ok {
			return fs.ErrNotExist
		}
	}
	return nil
}

// The headers of the AsyncAPI document's examples are valid against the header
// schema.
func TestAsyncAPIExampleHeadersValidate(t *testing.T) {
	s := compile(t)
	raw, err := fs.ReadFile(schemas.FS(), "asyncapi.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Components struct {
			Messages map[string]struct {
				Examples []struct {
					Name    string            `yaml:"name"`
					Headers map[string]string `yaml:"headers"`
				} `yaml:"examples"`
			} `yaml:"messages"`
		} `yaml:"components"`
	}
	if err := yaml.Unmarshal(raw, &doc); err != nil {
		t.Fatal(err)
	}
	n := 0
	for name, m := range doc.Components.Messages {
		for _, ex := range m.Examples {
			if ex.Headers == nil {
				continue
			}
			n++
			if err := s.ValidateHeaders(ex.Headers); err != nil {
				t.Errorf("%s example %s: %v", name, ex.Name, err)
			}
		}
	}
	if n == 0 {
		t.Error("no example with headers")
	}
}
