package mcprr

import (
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/agentrr/agentrr/internal/httpx"

	"github.com/modelcontextprotocol/go-sdk/mcp"
	"go.opentelemetry.io/otel/attribute"
)

// server is what mcprr knows of the server a session talks to, from its
// transport and the options.
type server struct {
	name      string
	transport string // AttrTransport
	// netTransport, address and port are the network.transport,
	// server.address and server.port attributes (empty, 0: not set).
	netTransport string
	address      string
	port         int
	// display is how the session reaches its server, secrets masked: the
	// connect boundary's response, for reading.
	display connectInfo
	secrets httpx.Secrets
}

// connectRequest is the connect boundary's request.
type connectRequest struct {
	Server    string `json:"server"`
	Transport string `json:"transport"`
}

// connectInfo is the connect boundary's response: how the session reached
// its server when it was recorded, for reading (replay does not compare
// it: the path of a server binary or the port of a local server may
// change). Values of secret-named variables, flags and query parameters
// are REDACTED.
type connectInfo struct {
	// Command is the server's command line (stdio).
	Command []string `json:"command,omitempty"`
	// Dir is the command's working directory, when set.
	Dir string `json:"dir,omitempty"`
	// Env holds the variables the command sets beyond the agent's own
	// environment.
	Env map[string]string `json:"env,omitempty"`
	// Endpoint is the server's URL (HTTP).
	Endpoint string `json:"endpoint,omitempty"`
}

const redacted = "REDACTED"

// describe returns what t tells of its server.
func describe(t mcp.Transport, name string) *server {
	s := &server{}
	switch t := t.(type) {
	case *mcp.CommandTransport:
		s.transport, s.netTransport = "stdio", "pipe"
		if t.Command != nil {
			s.describeCommand(t.Command)
			if name == "" && t.Command.Path != "" {
				name = filepath.Base(t.Command.Path)
			}
		}
	case *mcp.StreamableClientTransport:
		s.transport, s.netTransport = "streamable-http", "tcp"
		name = s.describeURL(t.Endpoint, name)
	case *mcp.SSEClientTransport:
		s.transport, s.netTransport = "sse", "tcp"
		name = s.describeURL(t.Endpoint, name)
	case *mcp.InMemoryTransport:
		s.transport = "in-memory"
	case *mcp.IOTransport:
		s.transport, s.netTransport = "io", "pipe"
	case *mcp.LoggingTransport:
		return describe(t.Transport, name)
	default:
		s.transport = fmt.Sprintf("%T", t)
	}
	if name == "" {
		name = "mcp"
	}
	s.name = name
	return s
}

// attributes are the span attributes every boundary of the session has.
func (s *server) attributes() []attribute.KeyValue {
	attrs := []attribute.KeyValue{attribute.String(AttrServer, s.name), attribute.String(AttrTransport, s.transport)}
	if s.netTransport != "" {
		attrs = append(attrs, attribute.String(attrNetworkTransport, s.netTransport))
	}
	if s.address != "" {
		attrs = append(attrs, attribute.String(attrServerAddress, s.address))
		if s.port != 0 {
			attrs = append(attrs, attribute.Int(attrServerPort, s.port))
		}
	}
	return attrs
}

// describeCommand fills the display and the secrets of a stdio server's
// command.
func (s *server) describeCommand(cmd *exec.Cmd) {
	args := slices.Clone(cmd.Args)
	if len(args) == 0 {
		args = []string{cmd.Path}
	}
	for i := 1; i < len(args); i++ {
		name, value, hasValue := strings.Cut(strings.TrimLeft(args[i], "-"), "=")
		if !strings.HasPrefix(args[i], "-") || !httpx.IsSecretName(name) {
			continue
		}
		switch {
		case hasValue:
			s.secrets.Add(value)
			args[i] = args[i][:len(args[i])-len(value)] + redacted
		case i+1 < len(args) && !strings.HasPrefix(args[i+1], "-"):
			s.secrets.Add(args[i+1])
			args[i+1] = redacted
			i++
		}
	}
	s.display.Command = args
	s.display.Dir = cmd.Dir
	own := map[string]string{}
	for _, kv := range os.Environ() {
		k, v, _ := strings.Cut(kv, "=")
		own[k] = v
	}
	for _, kv := range cmd.Env {
		k, v, _ := strings.Cut(kv, "=")
		if old, ok := own[k]; ok && old == v {
			continue
		}
		if s.display.Env == nil {
			s.display.Env = map[string]string{}
		}
		if httpx.IsSecretName(k) {
			s.secrets.Add(v)
			v = redacted
		}
		s.display.Env[k] = v
	}
	s.secrets.Sort()
}

// describeURL fills the display, the secrets and the server attributes of
// an HTTP server's endpoint, and returns the server's name: name, else the
// endpoint's host and path (the port left out: a local server's changes
// from run to run).
func (s *server) describeURL(endpoint, name string) string {
	u, err := url.Parse(endpoint)
	if err != nil {
		s.display.Endpoint = redacted
		return name
	}
	if p, ok := u.User.Password(); ok {
		s.secrets.Add(p)
		u.User = url.UserPassword(u.User.Username(), redacted)
	}
	q := u.Query()
	masked := false
	for k, vs := range q {
		if httpx.IsSecretName(k) {
			for i, v := range vs {
				s.secrets.Add(v)
				vs[i] = redacted
			}
			masked = true
		}
	}
	if masked {
		u.RawQuery = q.Encode()
	}
	s.display.Endpoint = u.String()
	s.secrets.Sort()
	s.address = u.Hostname()
	if port, err := strconv.Atoi(u.Port()); err == nil {
		s.port = port
	} else if u.Scheme == "https" {
		s.port = 443
	} else if u.Scheme == "http" {
		s.port = 80
	}
	if name == "" && s.address != "" {
		name = s.address + strings.TrimSuffix(u.EscapedPath(), "/")
		if ip := net.ParseIP(s.address); ip != nil && ip.To4() == nil {
			name = "[" + s.address + "]" + strings.TrimSuffix(u.EscapedPath(), "/")
		}
	}
	return name
}

// maskOutcome masks the secrets in everything o holds.
func maskOutcome(s httpx.Secrets, o *outcome) {
	if len(s) == 0 {
		return
	}
	o.Result = s.Mask(o.Result)
	for i, m := range o.Messages {
		o.Messages[i] = s.Mask(m)
	}
	if o.Error != nil {
		o.Error.Message = s.MaskString(o.Error.Message)
		o.Error.Data = s.Mask(o.Error.Data)
	}
	if o.Failure != nil {
		o.Failure.Error = s.MaskString(o.Failure.Error)
		if e := o.Failure.JSONRPC; e != nil {
			e.Message, e.Data = s.MaskString(e.Message), s.Mask(e.Data)
		}
	}
}
