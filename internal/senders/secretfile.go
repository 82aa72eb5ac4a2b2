package senders

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
)

// The rules of BRIDGE_WEBHOOK_SECRET_FILE (cmd/bridge/secretfile.go), which a
// sender's secret_file follows too; this copy is the one both can share.

// maxSecretFile bounds what is read from a secret file: a list of secrets is a
// few lines, and the file is read again on every change.
const maxSecretFile = 64 << 10

// ReadSecretFile reads a secret file: one secret per line, surrounding white
// space (a Windows line end included) removed, blank lines and lines starting
// with # ignored. Commas are part of a secret: that is why the file exists.
// Errors name the file and the line, never its content.
func ReadSecretFile(path string) ([]string, error) {
	data, err := readBounded(path, maxSecretFile)
	if err != nil {
		return nil, err
	}
	return ParseSecrets(path, data)
}

// readBounded reads the file, refusing one larger than limit without reading
// more of it.
func readBounded(path string, limit int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", path, err)
	}
	if int64(len(data)) > limit {
		return nil, fmt.Errorf("%s is larger than %d bytes", path, limit)
	}
	return data, nil
}

// ParseSecrets parses the content of a secret file read from path (named in
// errors) as ReadSecretFile does.
func ParseSecrets(path string, data []byte) ([]string, error) {
	var secrets []string
	s := bufio.NewScanner(bytes.NewReader(data))
	s.Buffer(make([]byte, 0, 4096), maxSecretFile)
	for s.Scan() {
		line := strings.TrimSpace(s.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		secrets = append(secrets, line)
	}
	if err := s.Err(); err != nil {
		return nil, fmt.Errorf("reading %s: %w", path, err)
	}
	if len(secrets) == 0 {
		return nil, errors.New(path + " holds no secret (only blank lines and # comments)")
	}
	return secrets, nil
}
