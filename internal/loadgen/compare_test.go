package loadgen

import (
	"slices"
	"testing"
)

func TestCompare(t *testing.T) {
	t.Parallel()
	r := Compare([]string{"a", "b", "c", "c"}, []string{"a", "a", "c", "x", "y"})
	if r.Acked != 3 || r.Found != 4 || r.Duplicates != 1 {
		t.Errorf("acked %d found %d duplicates %d", r.Acked, r.Found, r.Duplicates)
	}
	if !slices.Equal(r.Lost, []string{"b"}) || !slices.Equal(r.Unexpected, []string{"x", "y"}) {
		t.Errorf("lost %v unexpected %v", r.Lost, r.Unexpected)
	}
	if r := Compare(nil, nil); r.Acked != 0 || len(r.Lost) != 0 {
		t.Errorf("empty: %+v", r)
	}
}
