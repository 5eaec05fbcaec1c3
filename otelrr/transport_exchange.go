package otelrr

import (
	"fmt"
	"net/http"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"

	"github.com/agentrr/agentrr/internal/httpx"
	"github.com/agentrr/agentrr/internal/redact"
)

// exchange is one HTTP request as the transport captured it (see
// httpx.Capture), with its place in the run.
type exchange struct {
	*httpx.Exchange
	sp spec

	openedAt    int64                // the run's next seq when the request was sent
	streamAttrs []attribute.KeyValue // set on a streamed boundary when it is stored
}

// captureRequest reads (and closes) req's body and describes the request,
// redacted with the rules of the run req belongs to.
func captureRequest(req *http.Request) (*exchange, error) {
	hx, err := httpx.Capture(req, requestRedactor(req))
	if err != nil {
		return nil, fmt.Errorf("otelrr: %w", err)
	}
	return &exchange{
		Exchange: hx,
		sp:       spec{kind: hx.Kind, name: hx.Name, spanName: hx.SpanName, spanKind: trace.SpanKindClient, attrs: hx.Attrs},
	}, nil
}

// requestRedactor is the redactor of the run req belongs to (nil: none).
func requestRedactor(req *http.Request) *redact.Redactor {
	if run := runFromContext(req.Context()); run != nil {
		return run.rec.redact
	}
	return nil
}
