package main

import (
	"log/slog"
	"slices"
	"strings"

	"github.com/audiospliter/audiospliter-bridge/internal/config"
)

// envconfig reads only the variables Config declares, so a misspelt one
// (BRIDGE_SINKK=rabbitmq) would be ignored without a word and the bridge would start
// with the default. Naming it at start, with the variable the user probably meant,
// turns a silent wrong configuration into a line in the log.

// testVariablePrefix marks variables the tests read (BRIDGE_TEST_RABBITMQ_URL), which
// a developer's shell may well export while running the bridge.
const testVariablePrefix = "BRIDGE_TEST_"

// unknownVariable is a BRIDGE_* variable of the environment that Config does not
// declare, with the known name closest to it ("" when none is close).
type unknownVariable struct {
	name, closest string
}

// unknownVariables returns, sorted by name, the BRIDGE_* variables in environ
// (KEY=value strings, as os.Environ returns them) that the bridge does not read.
// Only names are kept: a value may be a secret.
func unknownVariables(environ []string) []unknownVariable {
	known := config.Variables()
	names := make([]string, len(known))
	for i, v := range known {
		names[i] = v.Name
	}
	var unknown []unknownVariable
	for _, kv := range environ {
		name, _, _ := strings.Cut(kv, "=")
		if !strings.HasPrefix(name, "BRIDGE_") || strings.HasPrefix(name, testVariablePrefix) || slices.Contains(names, name) {
			continue
		}
		unknown = append(unknown, unknownVariable{name: name, closest: closestName(name, names)})
	}
	slices.SortFunc(unknown, func(a, b unknownVariable) int { return strings.Compare(a.name, b.name) })
	return slices.CompactFunc(unknown, func(a, b unknownVariable) bool { return a.name == b.name })
}

// warnUnknownVariables logs one warning per unknown variable, naming only variables.
func warnUnknownVariables(log *slog.Logger, unknown []unknownVariable) {
	for _, u := range unknown {
		msg := u.name + " is not a variable the bridge reads; it is ignored"
		attrs := []any{"variable", u.name}
		if u.closest != "" {
			msg += "; did you mean " + u.closest + "?"
			attrs = append(attrs, "did_you_mean", u.closest)
		}
		log.Warn(msg, attrs...)
	}
}

// closestName returns the name in names nearest to name by edit distance, or "" when
// even the nearest is so different that suggesting it would mislead. A name that
// lacks or adds whole words (BRIDGE_SECRET for BRIDGE_WEBHOOK_SECRET) also counts as
// close, the closer the fewer letters it lacks or adds.
func closestName(name string, names []string) string {
	suffix := strings.TrimPrefix(name, "BRIDGE_")
	best, bestDist := "", -1
	for _, candidate := range names {
		c := strings.TrimPrefix(candidate, "BRIDGE_")
		d := editDistance(suffix, c)
		if wordsContained(suffix, c) || wordsContained(c, suffix) {
			d = min(d, 1+abs(len(c)-len(suffix))/8)
		}
		if bestDist < 0 || d < bestDist {
			best, bestDist = candidate, d
		}
	}
	// A third of the name may be wrong, and always at least two characters.
	if bestDist < 0 || bestDist > max(2, len(suffix)/3) {
		return ""
	}
	return best
}

// wordsContained reports whether the _-separated words of part appear, in order,
// among those of whole (NATS_TOKEN in NATS_EMBEDDED_TOKEN).
func wordsContained(part, whole string) bool {
	if part == "" {
		return false
	}
	words := strings.Split(whole, "_")
	for _, w := range strings.Split(part, "_") {
		i := slices.Index(words, w)
		if i < 0 {
			return false
		}
		words = words[i+1:]
	}
	return true
}

// editDistance is the Levenshtein distance between a and b, in bytes (variable names
// are ASCII).
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

func abs(n int) int {
	if n < 0 {
		return -n
	}
	return n
}
