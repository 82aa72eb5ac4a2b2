package app

import (
	"errors"
	"net"
	"strconv"
	"time"
)

// Plain HTTP sent to the HTTPS listener (a sender configured with http://) would
// get Go's own plain-text 400. Every answer of the bridge is JSON, so the listener
// under TLS looks at each connection's first byte: a TLS connection begins with a
// handshake record (0x16); an ASCII capital letter is an HTTP method. Such a
// connection gets a JSON 400 that says to use https://, and is closed.

// plainHTTPBody is the answer to plain HTTP on the HTTPS port.
const plainHTTPBody = `{"error":"this port serves HTTPS: send the webhook to https://"}`

var plainHTTPAnswer = []byte("HTTP/1.1 400 Bad Request\r\nContent-Type: application/json\r\nConnection: close\r\nContent-Length: " +
	strconv.Itoa(len(plainHTTPBody)) + "\r\n\r\n" + plainHTTPBody)

// errPlainHTTP ends the TLS handshake of a plain HTTP connection; the server logs
// it as a handshake error.
var errPlainHTTP = errors.New("plain HTTP sent to the HTTPS port: answered 400 in JSON")

// answerWrite bounds writing the 400: a client that does not read must not hold
// the connection.
const answerWrite = time.Second

// tlsOnlyListener hands out connections that answer plain HTTP in JSON.
type tlsOnlyListener struct{ net.Listener }

func (l tlsOnlyListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &tlsOnlyConn{Conn: c}, nil
}

// tlsOnlyConn checks the first byte read from the client. Only the server's
// goroutine of the connection reads it.
type tlsOnlyConn struct {
	net.Conn
	checked, plain bool
}

func (c *tlsOnlyConn) Read(b []byte) (int, error) {
	if c.plain {
		return 0, errPlainHTTP
	}
	n, err := c.Conn.Read(b)
	if n == 0 || c.checked {
		return n, err
	}
	c.checked = true
	if b[0] < 'A' || b[0] > 'Z' {
		return n, err
	}
	c.plain = true
	_ = c.Conn.SetWriteDeadline(time.Now().Add(answerWrite))
	_, _ = c.Conn.Write(plainHTTPAnswer)
	// Closing the write side lets the client read the whole answer before it sees
	// the connection end; the server closes the rest.
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		_ = cw.CloseWrite()
	}
	return 0, errPlainHTTP
}
