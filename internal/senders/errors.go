package senders

import (
	"strconv"
	"strings"
)

// Error is what is wrong with a senders file, as one line for the log of a start
// that exits 2: where (file, line), which sender, which field, and what. It never
// holds a secret: secrets are only in the secret files, whose errors say which
// secret by position.
type Error struct {
	File   string // the senders file, when read by Load
	Line   int    // 1-based, 0 when unknown
	Sender string // `"billing"`, or `#2` (its position) when it has no valid name; "" for the whole file
	Field  string // the key, dotted below the sender ("hmac.algorithm"); "" for the sender itself
	Msg    string
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString("senders file")
	if e.File != "" {
		b.WriteString(" " + e.File)
	}
	if e.Line > 0 {
		b.WriteString(" line " + strconv.Itoa(e.Line))
	}
	b.WriteString(": ")
	if e.Sender != "" {
		b.WriteString("sender " + e.Sender + ": ")
	}
	if e.Field != "" {
		b.WriteString(e.Field + ": ")
	}
	b.WriteString(e.Msg)
	return b.String()
}

// label names sender i (0-based) in messages: by its name when it is a valid
// one, else by its position.
func label(i int, name string) string {
	if validName(name) {
		return strconv.Quote(name)
	}
	return "#" + strconv.Itoa(i+1)
}
