package rabbitmq

import "github.com/audiospliter/audiospliter-bridge/sinks"

// HeaderFrameSize is the size of the content header frame that carries msg's
// properties, for tests at the edge of frame_max.
func HeaderFrameSize(msg sinks.Message) int {
	f, err := headerFrame(toPublishing(msg))
	if err != nil {
		panic(err)
	}
	return f.size
}
