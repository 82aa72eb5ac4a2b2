package sinks

import (
	"errors"
	"strings"
	"testing"
)

// Over a size limit, the body is blamed (413) when it would not fit with ordinary
// headers, else the headers (400), naming the largest one, never its value.
func TestCheckSizeBlame(t *testing.T) {
	t.Parallel()
	size := func(name, value string) int { return len(name) + len(value) }
	headers := func(job int) []Header {
		return []Header{{Name: HeaderID, Value: "d-1"}, {Name: HeaderJobID, Value: strings.Repeat("j", job)}}
	}
	const limit = 10_000
	for _, c := range []struct {
		name      string
		body, job int
		want      error
	}{
		{"fits", 1000, 100, nil},
		{"exactly the limit", limit - len(HeaderID) - 3 - len(HeaderJobID) - 5 - 7, 5, nil},
		{"a long jobId", 1000, 20_000, ErrInvalid},
		{"a long jobId with a body that fits ordinary headers", limit - 1000, 2000, ErrInvalid},
		{"a body too large with ordinary headers", limit - 10, 100, ErrTooLarge},
		{"a body too large whatever the headers", 2 * limit, 20_000, ErrTooLarge},
	} {
		hs := MeasureHeaders(headers(c.job), 7, size)
		err := hs.CheckSize("test", c.body, limit, "the limit")
		if !errors.Is(err, c.want) || (c.want == nil) != (err == nil) {
			t.Errorf("%s: %v, want %v", c.name, err, c.want)
		}
		if errors.Is(err, ErrInvalid) && (!strings.Contains(err.Error(), HeaderJobID) || strings.Contains(err.Error(), "jjjj")) {
			t.Errorf("%s: %q should name %s and not show its value", c.name, err, HeaderJobID)
		}
	}
}
