package bridge

// A JSON validator for the request body, in one pass with the top-level walk of
// parseEnvelope: encoding/json's Valid steps a state machine through a function
// call per byte, which was a twentieth of the bridge's CPU per webhook. It accepts
// exactly what encoding/json accepts (RFC 8259, nesting at most maxDepth deep; the
// caller checks UTF-8), which FuzzParseEnvelope checks against encoding/json.

// maxDepth is encoding/json's limit on nesting.
const maxDepth = 10000

// scanString returns the index after the valid string literal at b[i] == '"', or -1.
func scanString(b []byte, i int) int {
	for i++; i < len(b); i++ {
		switch c := b[i]; {
		case c == '"':
			return i + 1
		case c == '\\':
			if i++; i >= len(b) {
				return -1
			}
			switch b[i] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
			case 'u':
				if i+4 >= len(b) || !isHex(b[i+1]) || !isHex(b[i+2]) || !isHex(b[i+3]) || !isHex(b[i+4]) {
					return -1
				}
				i += 4
			default:
				return -1
			}
		case c < 0x20:
			return -1
		}
	}
	return -1
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

// scanNumber returns the index after the valid number at b[i], or -1.
func scanNumber(b []byte, i int) int {
	if b[i] == '-' {
		if i++; i >= len(b) {
			return -1
		}
	}
	switch {
	case b[i] == '0':
		i++
	case '1' <= b[i] && b[i] <= '9':
		for i++; i < len(b) && isDigit(b[i]); i++ {
		}
	default:
		return -1
	}
	if i < len(b) && b[i] == '.' {
		if i++; i >= len(b) || !isDigit(b[i]) {
			return -1
		}
		for i++; i < len(b) && isDigit(b[i]); i++ {
		}
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		if i++; i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		if i >= len(b) || !isDigit(b[i]) {
			return -1
		}
		for i++; i < len(b) && isDigit(b[i]); i++ {
		}
	}
	return i
}

// scanLiteral returns the index after lit at b[i], or -1.
func scanLiteral(b []byte, i int, lit string) int {
	if len(b)-i < len(lit) || string(b[i:i+len(lit)]) != lit {
		return -1
	}
	return i + len(lit)
}

// scanValue returns the index after the valid value at b[i] (after white space),
// nested at most maxDepth-depth deep, or -1. Containers are walked without
// recursion: a stack of their kinds, on this goroutine's stack while it is shallow.
func scanValue(b []byte, i, depth int) int {
	var small [64]byte
	stack := small[:0]
	for {
		// A value is expected at i.
		i = skipSpace(b, i)
		if i >= len(b) {
			return -1
		}
		switch c := b[i]; {
		case c == '{' || c == '[':
			if depth+len(stack)+1 > maxDepth {
				return -1
			}
			close := byte('}')
			if c == '[' {
				close = ']'
			}
			if i = skipSpace(b, i+1); i < len(b) && b[i] == close {
				i++ // empty: a whole value
				break
			}
			stack = append(stack, close)
			if close == '}' {
				if i = scanMember(b, i); i < 0 {
					return -1
				}
			}
			continue
		case c == '"':
			i = scanString(b, i)
		case c == '-' || isDigit(c):
			i = scanNumber(b, i)
		case c == 't':
			i = scanLiteral(b, i, "true")
		case c == 'f':
			i = scanLiteral(b, i, "false")
		case c == 'n':
			i = scanLiteral(b, i, "null")
		default:
			return -1
		}
		if i < 0 {
			return -1
		}
		// A value ended: close containers, or go on to the next element.
		for {
			if len(stack) == 0 {
				return i
			}
			if i = skipSpace(b, i); i >= len(b) {
				return -1
			}
			top := stack[len(stack)-1]
			if b[i] == top {
				stack = stack[:len(stack)-1]
				i++
				continue
			}
			if b[i] != ',' {
				return -1
			}
			i++
			if top == '}' {
				if i = scanMember(b, skipSpace(b, i)); i < 0 {
					return -1
				}
			}
			break
		}
	}
}

// scanMember returns the index after an object member's key and colon at b[i], or
// -1: its value follows.
func scanMember(b []byte, i int) int {
	if i >= len(b) || b[i] != '"' {
		return -1
	}
	if i = scanString(b, i); i < 0 {
		return -1
	}
	if i = skipSpace(b, i); i >= len(b) || b[i] != ':' {
		return -1
	}
	return i + 1
}
