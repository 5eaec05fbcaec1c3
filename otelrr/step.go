package otelrr

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"sync"
	"time"

	"github.com/agentrr/agentrr/internal/handshake"
	"github.com/agentrr/agentrr/replayer"
)

// stepDialTimeout bounds how long the agent waits to reach `agentrr step`.
const stepDialTimeout = 10 * time.Second

// socketStepper returns a replayer.Stepper that asks `agentrr step`,
// listening on the unix socket at path: for each step it writes the
// replayer.Step as one JSON line and reads one handshake.StepReply line.
// The socket is dialed at the first step and closed after Continue or Quit,
// which end the stepping.
func socketStepper(path string) replayer.Stepper {
	var (
		mu   sync.Mutex
		conn net.Conn
		in   *bufio.Reader
	)
	return func(st replayer.Step) (replayer.Action, error) {
		mu.Lock()
		defer mu.Unlock()
		if conn == nil {
			c, err := net.DialTimeout("unix", path, stepDialTimeout)
			if err != nil {
				return "", fmt.Errorf("cannot reach agentrr step at %s (%s): %w", path, handshake.EnvReplayStep, err)
			}
			conn, in = c, bufio.NewReader(c)
		}
		act, err := exchangeStep(conn, in, st)
		if err != nil || act != replayer.Next {
			conn.Close()
			conn = nil
		}
		return act, err
	}
}

func exchangeStep(conn net.Conn, in *bufio.Reader, st replayer.Step) (replayer.Action, error) {
	line, err := json.Marshal(st)
	if err != nil {
		return "", fmt.Errorf("encode step %d: %w", st.Seq, err)
	}
	if _, err := conn.Write(append(line, '\n')); err != nil {
		return "", fmt.Errorf("send step %d to agentrr step: %w", st.Seq, err)
	}
	reply, err := in.ReadBytes('\n')
	if err != nil {
		if errors.Is(err, net.ErrClosed) || len(reply) == 0 {
			return "", fmt.Errorf("agentrr step closed the control channel at seq %d: %w", st.Seq, err)
		}
		return "", fmt.Errorf("read the answer to step %d: %w", st.Seq, err)
	}
	var r handshake.StepReply
	if err := json.Unmarshal(reply, &r); err != nil {
		return "", fmt.Errorf("agentrr step answered step %d with %q: %w", st.Seq, reply, err)
	}
	if r.Error != "" {
		return "", errors.New(r.Error)
	}
	return replayer.ParseAction(r.Action)
}
