package loadgen

import "slices"

// LossReport compares the delivery ids answered 200 with the ids found on a broker.
type LossReport struct {
	Acked      int      // ids answered 200
	Found      int      // distinct ids on the broker
	Lost       []string // answered 200, not on the broker: must be empty
	Duplicates int      // extra copies on the broker (a broker without dedup, after a retry)
	Unexpected []string // on the broker, never answered 200 (answered 503 but landed, or sent by others)
}

// Compare builds the report; Lost and Unexpected are sorted.
func Compare(acked, found []string) LossReport {
	onBroker := make(map[string]int, len(found))
	for _, id := range found {
		onBroker[id]++
	}
	ackedSet := make(map[string]bool, len(acked))
	r := LossReport{Found: len(onBroker)}
	for _, id := range acked {
		if ackedSet[id] {
			continue
		}
		ackedSet[id] = true
		if onBroker[id] == 0 {
			r.Lost = append(r.Lost, id)
		}
	}
	r.Acked = len(ackedSet)
	for id, n := range onBroker {
		if n > 1 {
			r.Duplicates += n - 1
		}
		if !ackedSet[id] {
			r.Unexpected = append(r.Unexpected, id)
		}
	}
	slices.Sort(r.Lost)
	slices.Sort(r.Unexpected)
	return r
}
