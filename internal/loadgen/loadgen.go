// Package loadgen sends signed webhooks to a bridge: one at a time, or as a load of
// unique deliveries from many keep-alive connections with a latency report. The
// sendhook command, the tests and the benchmarks use it; it is a client of the bridge,
// not part of its API.
//
// For http:// URLs the load runs on raw HTTP/1.1 keep-alive connections, one request
// in flight on each, with the request prepared once and only the delivery id
// changing (as wrk would send it): the client must cost the machine little, since on
// a small box it shares the CPU with the bridge and the broker it measures.
package loadgen

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/audiospliter/audiospliter-bridge/bridge"
)

// Target is where and what to send.
type Target struct {
	URL    string // e.g. http://127.0.0.1:8080/webhooks
	Secret string
	Body   []byte
	// Sender, when set, signs every delivery with its scheme, anew per request
	// (sender.go); Secret and Body are then its. Nil: AudioSpliter's scheme, the
	// request prepared once.
	Sender *Sender
	// RootCAs verifies an https bridge's certificate; nil: the system roots.
	RootCAs *x509.CertPool
}

// client is the net/http client for t: the default one, or one that trusts
// t.RootCAs.
func (t Target) client(conns int, timeout time.Duration) *http.Client {
	if t.RootCAs == nil && conns == 0 {
		return http.DefaultClient
	}
	tr := &http.Transport{TLSClientConfig: &tls.Config{MinVersion: tls.VersionTLS12, RootCAs: t.RootCAs}}
	if conns > 0 {
		tr.MaxIdleConnsPerHost, tr.MaxConnsPerHost = conns, conns
	} else {
		tr.DisableKeepAlives = true // one request: leave no idle connection behind
	}
	return &http.Client{Transport: tr, Timeout: timeout}
}

// Reply is one answer.
type Reply struct {
	Status int
	Body   []byte
}

// Send posts one delivery with a fresh signature, over net/http (http or https).
func Send(ctx context.Context, t Target, deliveryID string) (Reply, error) {
	req, err := t.request(ctx, deliveryID)
	if err != nil {
		return Reply{}, err
	}
	resp, err := t.client(0, 0).Do(req)
	if err != nil {
		return Reply{}, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	return Reply{Status: resp.StatusCode, Body: body}, err
}

// request is one signed delivery for net/http.
func (t Target) request(ctx context.Context, deliveryID string) (*http.Request, error) {
	if t.Sender != nil {
		h, body, err := t.Sender.Request(deliveryID, time.Now())
		if err != nil {
			return nil, err
		}
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, t.URL, bytes.NewReader(body))
		if err != nil {
			return nil, err
		}
		req.Header = h
		return req, nil
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, t.URL, bytes.NewReader(t.Body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(bridge.SignatureHeader, bridge.Sign(t.Secret, t.Body))
	req.Header.Set(bridge.DeliveryHeader, deliveryID)
	return req, nil
}

// Options shape a load run. It ends after Requests requests, or after Duration, or
// when ctx ends, whichever comes first; at least one of Requests and Duration must
// be set, so a run is always bounded.
type Options struct {
	Concurrency int           // connections, one request in flight on each
	Requests    int           // total requests; 0: until Duration
	Duration    time.Duration // 0: until Requests
	IDPrefix    string        // delivery ids are IDPrefix-<n>; default load-<unix nanos>
	Timeout     time.Duration // per request; default 30s
	// OnReply, when set, is called for every answered request with the time it was
	// sent (from many goroutines at once).
	OnReply func(deliveryID string, status int, sent time.Time)
}

// Result is the report of a load run.
type Result struct {
	Requests  int
	Errors    int // no HTTP answer (connection refused, reset, timeout)
	Elapsed   time.Duration
	Statuses  map[int]int
	Latencies []time.Duration // sorted, one per answered request
	// Stopped counts the connections that ended before the run did because a new
	// one could not be opened (the server went away); StopErr is the last reason.
	Stopped int
	StopErr error
}

// Percentile returns the p-quantile (0 < p ≤ 1) of the latencies.
func (r Result) Percentile(p float64) time.Duration {
	if len(r.Latencies) == 0 {
		return 0
	}
	return r.Latencies[int(p*float64(len(r.Latencies)-1))]
}

// PerSecond is answered requests per second.
func (r Result) PerSecond() float64 {
	if r.Elapsed <= 0 {
		return 0
	}
	return float64(len(r.Latencies)) / r.Elapsed.Seconds()
}

// String is the human report sendhook prints.
func (r Result) String() string {
	var b bytes.Buffer
	fmt.Fprintf(&b, "requests: %d in %s (%d without an answer)\n", r.Requests, r.Elapsed.Round(time.Millisecond), r.Errors)
	fmt.Fprintf(&b, "requests/s: %.0f\n", r.PerSecond())
	fmt.Fprintf(&b, "latency: p50 %s  p90 %s  p99 %s  max %s\n",
		r.Percentile(0.50).Round(time.Microsecond), r.Percentile(0.90).Round(time.Microsecond),
		r.Percentile(0.99).Round(time.Microsecond), r.Percentile(1).Round(time.Microsecond))
	codes := make([]int, 0, len(r.Statuses))
	for c := range r.Statuses {
		codes = append(codes, c)
	}
	slices.Sort(codes)
	b.WriteString("status:")
	for _, c := range codes {
		fmt.Fprintf(&b, " %d×%d", c, r.Statuses[c])
	}
	b.WriteString("\n")
	if r.Stopped > 0 {
		fmt.Fprintf(&b, "stopped early: %d connection(s) could not reconnect: %v\n", r.Stopped, r.StopErr)
	}
	return b.String()
}

// Run sends a load of unique deliveries and reports on it.
func Run(ctx context.Context, t Target, o Options) (Result, error) {
	if o.Requests <= 0 && o.Duration <= 0 {
		return Result{}, fmt.Errorf("loadgen: set Requests or Duration")
	}
	if o.Concurrency <= 0 {
		o.Concurrency = 1
	}
	if o.Timeout <= 0 {
		o.Timeout = 30 * time.Second
	}
	if o.IDPrefix == "" {
		o.IDPrefix = "load-" + strconv.FormatInt(time.Now().UnixNano(), 36)
	}
	if o.Duration > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, o.Duration)
		defer cancel()
	}
	u, err := url.Parse(t.URL)
	if err != nil {
		return Result{}, err
	}
	newPoster := func() (poster, error) { return newRawPoster(u, t, o.Timeout) }
	if u.Scheme == "https" {
		client := t.client(o.Concurrency, o.Timeout)
		newPoster = func() (poster, error) { return &stdPoster{client: client, t: t}, nil }
	}

	var (
		next   atomic.Int64
		mu     sync.Mutex
		res    = Result{Statuses: map[int]int{}}
		wg     sync.WaitGroup
		start  = time.Now()
		failed error
	)
	for range o.Concurrency {
		wg.Go(func() {
			p, err := newPoster()
			if err != nil {
				mu.Lock()
				failed = err
				mu.Unlock()
				return
			}
			defer func() { p.close() }() // the last one opened
			var lat []time.Duration
			statuses := map[int]int{}
			errs, sent := 0, 0
			var stopErr error
			for ctx.Err() == nil {
				n := next.Add(1)
				if o.Requests > 0 && n > int64(o.Requests) {
					break
				}
				id := o.IDPrefix + "-" + strconv.FormatInt(n, 10)
				t0 := time.Now()
				status, err := p.post(ctx, id)
				sent++
				if status != 0 {
					lat = append(lat, time.Since(t0))
					statuses[status]++
					if o.OnReply != nil {
						o.OnReply(id, status, t0)
					}
				}
				if err != nil {
					if status == 0 {
						errs++
					}
					p.close() // the connection is gone: open another
					np, err := newPoster()
					if err != nil {
						if ctx.Err() == nil {
							stopErr = err
						}
						p = closedPoster{}
						break
					}
					p = np
				}
			}
			mu.Lock()
			if stopErr != nil {
				res.Stopped++
				res.StopErr = stopErr
			}
			res.Requests += sent
			res.Errors += errs
			res.Latencies = append(res.Latencies, lat...)
			for c, k := range statuses {
				res.Statuses[c] += k
			}
			mu.Unlock()
		})
	}
	wg.Wait()
	res.Elapsed = time.Since(start)
	slices.Sort(res.Latencies)
	if failed != nil && res.Requests == 0 {
		return res, failed
	}
	return res, nil
}

// closedPoster stands for a connection already closed.
type closedPoster struct{}

func (closedPoster) post(context.Context, string) (int, error) { return 0, net.ErrClosed }
func (closedPoster) close()                                    {}

type poster interface {
	post(ctx context.Context, deliveryID string) (int, error)
	close()
}

// rawPoster is one keep-alive HTTP/1.1 connection with the request prepared once,
// or, for a Sender, signed anew per request.
type rawPoster struct {
	conn    net.Conn
	r       *bufio.Reader
	head    []byte // request line and headers up to the delivery header's value
	body    []byte
	buf     []byte
	timeout time.Duration
	sender  *Sender
	start   []byte // with a sender: the request line and Host header
}

func newRawPoster(u *url.URL, t Target, timeout time.Duration) (*rawPoster, error) {
	host := u.Host
	if u.Port() == "" {
		host = net.JoinHostPort(u.Hostname(), "80")
	}
	conn, err := net.DialTimeout("tcp", host, timeout)
	if err != nil {
		return nil, err
	}
	path := u.RequestURI()
	if t.Sender != nil {
		start := fmt.Sprintf("POST %s HTTP/1.1\r\nHost: %s\r\n", path, u.Host)
		return &rawPoster{conn: conn, r: bufio.NewReader(conn), start: []byte(start), sender: t.Sender, timeout: timeout}, nil
	}
	head := fmt.Sprintf("POST %s HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\n%s: %s\r\nContent-Length: %d\r\n%s: ",
		path, u.Host, bridge.SignatureHeader, bridge.Sign(t.Secret, t.Body), len(t.Body), bridge.DeliveryHeader)
	return &rawPoster{conn: conn, r: bufio.NewReader(conn), head: []byte(head), body: t.Body, timeout: timeout}, nil
}

func (p *rawPoster) post(_ context.Context, id string) (int, error) {
	if p.sender != nil {
		h, body, err := p.sender.Request(id, time.Now())
		if err != nil {
			return 0, err
		}
		p.buf = append(p.buf[:0], p.start...)
		for k, vs := range h {
			for _, v := range vs {
				p.buf = append(p.buf, k...)
				p.buf = append(p.buf, ": "...)
				p.buf = append(p.buf, v...)
				p.buf = append(p.buf, "\r\n"...)
			}
		}
		p.buf = append(p.buf, "Content-Length: "...)
		p.buf = strconv.AppendInt(p.buf, int64(len(body)), 10)
		p.buf = append(p.buf, "\r\n\r\n"...)
		p.buf = append(p.buf, body...)
	} else {
		p.buf = append(p.buf[:0], p.head...)
		p.buf = append(p.buf, id...)
		p.buf = append(p.buf, "\r\n\r\n"...)
		p.buf = append(p.buf, p.body...)
	}
	_ = p.conn.SetDeadline(time.Now().Add(p.timeout))
	if _, err := p.conn.Write(p.buf); err != nil {
		p.close()
		return 0, err
	}
	resp, err := http.ReadResponse(p.r, nil)
	if err != nil {
		p.close()
		return 0, err
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.Close {
		p.close()
		return resp.StatusCode, errConnClosed
	}
	return resp.StatusCode, nil
}

var errConnClosed = fmt.Errorf("loadgen: server closed the connection")

func (p *rawPoster) close() { _ = p.conn.Close() }

// stdPoster goes through net/http (for https).
type stdPoster struct {
	client *http.Client
	t      Target
}

func (p *stdPoster) post(ctx context.Context, id string) (int, error) {
	req, err := p.t.request(ctx, id)
	if err != nil {
		return 0, err
	}
	resp, err := p.client.Do(req)
	if err != nil {
		return 0, err
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode, nil
}

func (p *stdPoster) close() {}

// Report puts the run's figures on a benchmark (b.ReportMetric): answered
// requests per second and the p50 and p99 latency. It fails the benchmark through
// fail when any request was not answered 200.
func (r Result) Report(b interface{ ReportMetric(float64, string) }, fail func(...any)) {
	b.ReportMetric(r.PerSecond(), "msgs/s")
	b.ReportMetric(float64(r.Percentile(0.50).Microseconds()), "p50-µs")
	b.ReportMetric(float64(r.Percentile(0.99).Microseconds()), "p99-µs")
	if r.Errors > 0 || r.Statuses[200] != len(r.Latencies) {
		fail(fmt.Sprintf("not every request was answered 200: %d errors, statuses %v", r.Errors, r.Statuses))
	}
}
