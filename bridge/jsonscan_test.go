package bridge

import (
	"encoding/json"
	"strings"
	"testing"
)

// wholeValue reports whether b is one valid JSON value with white space around it.
func wholeValue(b []byte) bool {
	end := scanValue(b, 0, 0)
	return end >= 0 && skipSpace(b, end) == len(b)
}

func TestScanValueAgreesWithEncodingJSON(t *testing.T) {
	for _, s := range []string{
		``, ` `, `0`, `-0`, `01`, `-`, `1.`, `1.5`, `1e5`, `1E+5`, `1e`, `1e+`, `.5`, `+1`, `-01`,
		`true`, `tru`, `truex`, `null`, `nul`, `false`, `"`, `""`, `"\u00e9"`, `"\u00g9"`, `"\x"`, `"a` + "\x01" + `"`,
		`"\/"`, `[]`, `[`, `]`, `[1,]`, `[,1]`, `[1 2]`, `{}`, `{"a"}`, `{"a":}`, `{"a":1,}`, `{"a":1 "b":2}`,
		`{1:2}`, `{"a":1}}`, `[[[]]]`, `[{"a":[{"b":{}}]}]`, ` { "a" : [ 1 , 2 ] } `, `{"a":1}{}`, `[1] [2]`,
		"\"\xff\"", `{"a":"}"}`, `["]"]`,
	} {
		if got, want := wholeValue([]byte(s)), json.Valid([]byte(s)); got != want {
			t.Errorf("%q: scanValue %v, encoding/json %v", s, got, want)
		}
	}
}

// Nesting is limited as encoding/json limits it.
func TestScanValueDepth(t *testing.T) {
	for _, n := range []int{maxDepth, maxDepth + 1} {
		for _, open := range []string{"[", `{"a":`} {
			closer := "]"
			if open != "[" {
				closer = "}"
			}
			b := []byte(strings.Repeat(open, n) + "1" + strings.Repeat(closer, n))
			if got, want := wholeValue(b), json.Valid(b); got != want {
				t.Errorf("%d × %s: scanValue %v, encoding/json %v", n, open, got, want)
			}
		}
	}
}

func FuzzScanValue(f *testing.F) {
	for _, s := range []string{`{"event":"e","data":[1,2.5e-3,{"x":null}]}`, `[true,false,"\u0041\n"]`, `-0.0E+1`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		if got, want := wholeValue(b), json.Valid(b); got != want {
			t.Fatalf("%q: scanValue %v, encoding/json %v", b, got, want)
		}
	})
}
