package mcprr

import (
	"context"
	"sync"

	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
)

// queue holds the messages a connection's Read returns, in order, and the
// error it returns once they are read: a lost connection's, or io.EOF once
// it is closed. It never blocks a writer.
type queue struct {
	mu   sync.Mutex
	msgs []jsonrpc.Message
	err  error
	wake chan struct{} // has a value when there is something to read
}

func newQueue() *queue { return &queue{wake: make(chan struct{}, 1)} }

func (q *queue) signal() {
	select {
	case q.wake <- struct{}{}:
	default:
	}
}

// push adds msgs, unless the queue has ended.
func (q *queue) push(msgs ...jsonrpc.Message) {
	q.mu.Lock()
	if q.err == nil {
		q.msgs = append(q.msgs, msgs...)
	}
	q.mu.Unlock()
	q.signal()
}

// end makes err what Read returns once the messages already pushed are
// read; the first error wins, and nothing pushed after it is read.
func (q *queue) end(err error) {
	q.mu.Lock()
	if q.err == nil {
		q.err = err
	}
	q.mu.Unlock()
	q.signal()
}

// pop returns the next message, or the queue's error once it has none.
func (q *queue) pop(ctx context.Context) (jsonrpc.Message, error) {
	for {
		q.mu.Lock()
		switch {
		case len(q.msgs) > 0:
			m := q.msgs[0]
			q.msgs[0] = nil
			q.msgs = q.msgs[1:]
			more := len(q.msgs) > 0 || q.err != nil
			q.mu.Unlock()
			if more {
				q.signal()
			}
			return m, nil
		case q.err != nil:
			err := q.err
			q.mu.Unlock()
			q.signal()
			return nil, err
		}
		q.mu.Unlock()
		select {
		case <-q.wake:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}
