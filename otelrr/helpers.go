package otelrr

import (
	"context"
	crand "crypto/rand"
	"fmt"
	"math/rand/v2"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"

	"github.com/agentrr/agentrr/boundary"
)

// LLM makes one llm boundary: a call to model at provider with request req,
// performed by fn when recording. The span follows the OpenTelemetry GenAI
// conventions (span name "chat {model}", gen_ai.* attributes).
func LLM[Req, Resp any](ctx context.Context, provider, model string, req Req, fn func(context.Context, Req) (Resp, error)) (Resp, error) {
	return call(ctx, spec{
		kind:     boundary.KindLLM,
		name:     model,
		spanName: "chat " + model,
		spanKind: trace.SpanKindClient,
		attrs: []attribute.KeyValue{
			attribute.String(boundary.GenAIOperationName, "chat"),
			attribute.String(boundary.GenAIProviderName, provider),
			attribute.String(boundary.GenAIRequestModel, model),
		},
	}, req, func(ctx context.Context) (Resp, error) { return fn(ctx, req) })
}

// Tool makes one tool boundary: the tool name called with args, run by fn
// when recording. On replay fn is never called.
func Tool[Args, Res any](ctx context.Context, name string, args Args, fn func(context.Context, Args) (Res, error)) (Res, error) {
	return call(ctx, spec{
		kind:     boundary.KindTool,
		name:     name,
		spanName: "execute_tool " + name,
		spanKind: trace.SpanKindInternal,
		attrs: []attribute.KeyValue{
			attribute.String(boundary.GenAIOperationName, "execute_tool"),
			attribute.String(boundary.GenAIToolName, name),
		},
	}, args, func(ctx context.Context) (Res, error) { return fn(ctx, args) })
}

// Now makes one clock boundary: the current time (UTC, no monotonic
// reading), recorded, and served from the recording on replay.
func Now(ctx context.Context) (time.Time, error) {
	return call(ctx, spec{kind: boundary.KindClock, name: "now", spanName: "clock now", spanKind: trace.SpanKindInternal},
		nil, func(context.Context) (time.Time, error) { return time.Now().UTC(), nil })
}

// Rand makes one rand boundary: a recorded seed, returned as a
// math/rand/v2 generator. Every draw the agent takes from it replays
// identically, at the cost of one boundary.
func Rand(ctx context.Context) (*rand.Rand, error) {
	seed, err := call(ctx, spec{kind: boundary.KindRand, name: "seed", spanName: "rand seed", spanKind: trace.SpanKindInternal},
		nil, func(context.Context) ([2]uint64, error) { return [2]uint64{rand.Uint64(), rand.Uint64()}, nil })
	if err != nil {
		return nil, err
	}
	return rand.New(rand.NewPCG(seed[0], seed[1])), nil
}

// Intn makes one rand boundary: a recorded draw in [0, n). It returns an
// error if n <= 0.
func Intn(ctx context.Context, n int) (int, error) {
	if n <= 0 {
		return 0, fmt.Errorf("otelrr: Intn(%d): n must be positive", n)
	}
	return call(ctx, spec{kind: boundary.KindRand, name: "intn", spanName: "rand intn", spanKind: trace.SpanKindInternal},
		map[string]int{"n": n}, func(context.Context) (int, error) { return rand.IntN(n), nil })
}

// Float64 makes one rand boundary: a recorded draw in [0, 1).
func Float64(ctx context.Context) (float64, error) {
	return call(ctx, spec{kind: boundary.KindRand, name: "float64", spanName: "rand float64", spanKind: trace.SpanKindInternal},
		nil, func(context.Context) (float64, error) { return rand.Float64(), nil })
}

// NewID makes one id boundary: a random (version 4) UUID, recorded.
func NewID(ctx context.Context) (string, error) {
	return call(ctx, spec{kind: boundary.KindID, name: "uuid", spanName: "id uuid", spanKind: trace.SpanKindInternal},
		nil, func(context.Context) (string, error) {
			var b [16]byte
			if _, err := crand.Read(b[:]); err != nil {
				return "", err
			}
			b[6] = b[6]&0x0f | 0x40
			b[8] = b[8]&0x3f | 0x80
			return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16]), nil
		})
}
