package app

import "time"

// serverLimits bound what one client can hold: time to send the headers and the
// whole request (slowloris), time an idle keep-alive connection stays open, and the
// number of open connections (admitted by internal/admit's rule). They are fixed,
// not configuration.
type serverLimits struct {
	readHeader, read, idle time.Duration
	// writeMargin: the server's write deadline, from the headers, is PublishTimeout
	// plus this; the webhook handler moves it once the body is read.
	writeMargin time.Duration
	maxConns    int // 0: max(256, 4 × BRIDGE_MAX_IN_FLIGHT)
}

func defaultLimits() serverLimits {
	return serverLimits{
		readHeader:  5 * time.Second,
		read:        30 * time.Second,
		idle:        90 * time.Second,
		writeMargin: 10 * time.Second,
	}
}

// conns is how many connections are open at once: four per publish in flight,
// so that connections idle between keep-alive requests and requests still
// arriving leave room for those publishing, and at least 256.
func (l serverLimits) conns(maxInFlight int) int {
	if l.maxConns > 0 {
		return l.maxConns
	}
	return max(256, 4*maxInFlight)
}
