package main

import "testing"

// A load sent without -sender to a bridge with a senders file: every lost id is
// on the broker under one sender's prefix, and the check says which flag was
// missing instead of leaving a false alarm unexplained.
func TestSenderOfLost(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		name             string
		lost, unexpected []string
		want             string
	}{
		{"every lost id under one sender", []string{"a-1", "a-2"}, []string{"ci:a-2", "ci:a-1", "other"}, "ci"},
		{"one lost id missing", []string{"a-1", "a-2"}, []string{"ci:a-1"}, ""},
		{"under two senders", []string{"a-1", "a-2"}, []string{"ci:a-1", "svix:a-2"}, ""},
		{"nothing unexpected", []string{"a-1"}, nil, ""},
		{"unexpected ids of their own", []string{"a-1"}, []string{"b-1", "ci:b-2"}, ""},
	} {
		if got := senderOfLost(c.lost, c.unexpected); got != c.want {
			t.Errorf("%s: senderOfLost = %q, want %q", c.name, got, c.want)
		}
	}
}
