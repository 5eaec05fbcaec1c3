package collect

import (
	"compress/gzip"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strings"
	"sync"

	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"
	spb "google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/agentrr/agentrr/spanlog"
)

// TracesPath is the OTLP/HTTP traces path the receiver serves.
const TracesPath = "/v1/traces"

// DefaultMaxRequestBytes bounds a request body, after decompression.
const DefaultMaxRequestBytes = 64 << 20

// gRPC status codes used in OTLP error bodies.
const (
	codeInvalidArgument = 3
	codeUnavailable     = 14
	codeInternal        = 13
)

// Receiver is an OTLP/HTTP trace receiver (POST /v1/traces, protobuf or
// JSON bodies, optionally gzip-compressed) that stores the boundary spans it
// receives with spanlog.Store.Ingest and answers only once they are synced
// to disk. A request that is malformed, too large, or holds a boundary that
// cannot be stored whole is refused with a 4xx and an OTLP error body, and
// nothing of it is stored. A run held by a live recorder gets a 503 (the
// sender retries).
type Receiver struct {
	store    *spanlog.Store
	maxBytes int64
	log      io.Writer
	logMu    sync.Mutex
}

// NewReceiver returns a receiver storing into store. maxBytes bounds a
// request body after decompression (<= 0: DefaultMaxRequestBytes). One line
// per request goes to log (nil: none).
func NewReceiver(store *spanlog.Store, maxBytes int64, log io.Writer) *Receiver {
	if maxBytes <= 0 {
		maxBytes = DefaultMaxRequestBytes
	}
	return &Receiver{store: store, maxBytes: maxBytes, log: log}
}

type encoding int

const (
	encProto encoding = iota
	encJSON
	encText // the request's Content-Type is not OTLP's: answer in plain text
)

func (r *Receiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	if req.URL.Path != TracesPath {
		http.Error(w, fmt.Sprintf("agentrr collect receives OTLP traces at POST %s only", TracesPath), http.StatusNotFound)
		return
	}
	if req.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		http.Error(w, "OTLP traces must be sent with POST", http.StatusMethodNotAllowed)
		return
	}
	enc := encProto
	mt, _, _ := mime.ParseMediaType(req.Header.Get("Content-Type"))
	switch mt {
	case "application/x-protobuf", "application/protobuf":
	case "application/json":
		enc = encJSON
	default:
		r.fail(w, encText, http.StatusUnsupportedMediaType, codeInvalidArgument, fmt.Sprintf("unsupported Content-Type %q: send application/x-protobuf or application/json", req.Header.Get("Content-Type")))
		return
	}
	body := http.MaxBytesReader(w, req.Body, r.maxBytes)
	var src io.Reader = body
	switch ce := strings.ToLower(strings.TrimSpace(req.Header.Get("Content-Encoding"))); ce {
	case "", "identity":
	case "gzip":
		zr, err := gzip.NewReader(body)
		if err != nil {
			r.fail(w, enc, http.StatusBadRequest, codeInvalidArgument, "gzip body does not decode: "+err.Error())
			return
		}
		defer zr.Close()
		src = zr
	default:
		r.fail(w, enc, http.StatusUnsupportedMediaType, codeInvalidArgument, fmt.Sprintf("unsupported Content-Encoding %q: send gzip or none", ce))
		return
	}
	data, err := io.ReadAll(io.LimitReader(src, r.maxBytes+1))
	var mbe *http.MaxBytesError
	switch {
	case errors.As(err, &mbe) || int64(len(data)) > r.maxBytes:
		r.fail(w, enc, http.StatusRequestEntityTooLarge, codeInvalidArgument, fmt.Sprintf("request body over %d bytes (agentrr collect --max-request-bytes); nothing stored", r.maxBytes))
		return
	case err != nil:
		r.fail(w, enc, http.StatusBadRequest, codeInvalidArgument, "read request body: "+err.Error())
		return
	}

	exp := ptraceotlp.NewExportRequest()
	if enc == encJSON {
		err = exp.UnmarshalJSON(data)
	} else {
		err = exp.UnmarshalProto(data)
	}
	if err != nil {
		r.fail(w, enc, http.StatusBadRequest, codeInvalidArgument, "body is not an OTLP ExportTraceServiceRequest: "+err.Error())
		return
	}
	res, err := r.store.Ingest(exp.Traces())
	var ie *spanlog.IngestError
	switch {
	case errors.As(err, &ie):
		r.fail(w, enc, http.StatusBadRequest, codeInvalidArgument, ie.Error())
		return
	case errors.Is(err, spanlog.ErrRecording):
		w.Header().Set("Retry-After", "5")
		r.fail(w, enc, http.StatusServiceUnavailable, codeUnavailable, err.Error())
		return
	case err != nil:
		r.fail(w, enc, http.StatusInternalServerError, codeInternal, err.Error())
		return
	}
	if res.Runs > 0 {
		r.logf("stored %d boundary span(s) of %d run(s) (%d already stored, %d run(s) ended, %d other span(s) ignored)", res.Stored, res.Runs, res.Duplicates, res.Ended, res.Ignored)
	}
	resp := ptraceotlp.NewExportResponse()
	var out []byte
	if enc == encJSON {
		out, err = resp.MarshalJSON()
		w.Header().Set("Content-Type", "application/json")
	} else {
		out, err = resp.MarshalProto()
		w.Header().Set("Content-Type", "application/x-protobuf")
	}
	if err != nil {
		r.fail(w, enc, http.StatusInternalServerError, codeInternal, err.Error())
		return
	}
	w.WriteHeader(http.StatusOK)
	w.Write(out)
}

// fail answers with an OTLP error body: a google.rpc.Status, as protobuf or
// JSON like the request.
func (r *Receiver) fail(w http.ResponseWriter, enc encoding, status int, code int32, msg string) {
	r.logf("refused a request: %d %s: %s", status, http.StatusText(status), msg)
	st := &spb.Status{Code: code, Message: msg}
	if enc == encText {
		http.Error(w, msg, status)
		return
	}
	if enc == encJSON {
		b, _ := json.Marshal(struct {
			Code    int32  `json:"code"`
			Message string `json:"message"`
		}{code, msg})
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		w.Write(b)
		return
	}
	b, err := proto.Marshal(st)
	if err != nil {
		http.Error(w, msg, status)
		return
	}
	w.Header().Set("Content-Type", "application/x-protobuf")
	w.WriteHeader(status)
	w.Write(b)
}

func (r *Receiver) logf(format string, args ...any) {
	if r.log == nil {
		return
	}
	r.logMu.Lock()
	defer r.logMu.Unlock()
	fmt.Fprintf(r.log, "agentrr collect: "+format+"\n", args...)
}
