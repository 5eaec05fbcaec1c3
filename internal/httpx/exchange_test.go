package httpx

import (
	"net/http"
	"strings"
	"testing"

	"github.com/agentrr/agentrr/boundary"
)

func TestCaptureRequest(t *testing.T) {
	newReq := func(method, url, contentType, body string, header ...string) *http.Request {
		req, err := http.NewRequest(method, url, strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		if contentType != "" {
			req.Header.Set("Content-Type", contentType)
		}
		for i := 0; i+1 < len(header); i += 2 {
			req.Header.Add(header[i], header[i+1])
		}
		return req
	}
	cases := []struct {
		name     string
		req      *http.Request
		kind     boundary.Kind
		bname    string
		wantJSON string
	}{
		{
			"chat completions: llm boundary; volatile and secret headers do not count",
			newReq("POST", "https://api.openai.com/v1/chat/completions", "application/json",
				`{"model":"gpt-4o","messages":[{"role":"user","content":"hi"}],  "temperature":0.5}`,
				"Authorization", "Bearer sk-secret-0123456789", "X-Stainless-Retry-Count", "1", "Idempotency-Key", "abc", "OpenAI-Beta", "assistants=v2"),
			boundary.KindLLM, "gpt-4o",
			`{"body":{"messages":[{"content":"hi","role":"user"}],"model":"gpt-4o","temperature":0.5},"header":{"Openai-Beta":["assistants=v2"]},"method":"POST","path":"/v1/chat/completions"}`,
		},
		{
			"a recognised path without a model is plain http",
			newReq("POST", "http://localhost:8080/v1/messages", "application/json", `{"messages":[]}`),
			boundary.KindHTTP, "POST /v1/messages",
			`{"body":{"messages":[]},"method":"POST","path":"/v1/messages"}`,
		},
		{
			"text body; secret query parameter masked",
			newReq("PUT", "http://h/v1/notes?key=AIzaSECRET123456&b=2", "text/plain", "hello"),
			boundary.KindHTTP, "PUT /v1/notes",
			`{"body_text":"hello","method":"PUT","path":"/v1/notes","query":{"b":["2"],"key":["REDACTED"]}}`,
		},
		{
			"binary body",
			newReq("POST", "http://h/upload", "application/octet-stream", "\xff\x00\xfe"),
			boundary.KindHTTP, "POST /upload",
			`{"body_base64":"/wD+","method":"POST","path":"/upload"}`,
		},
		{
			"secret values in the body are masked",
			newReq("POST", "http://h/login", "application/json", `{"echo":"sk-secret-0123456789"}`, "X-Api-Key", "sk-secret-0123456789"),
			boundary.KindHTTP, "POST /login",
			`{"body":{"echo":"********************"},"method":"POST","path":"/login"}`,
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ex, err := Capture(c.req, nil)
			if err != nil {
				t.Fatal(err)
			}
			if ex.Kind != c.kind || ex.Name != c.bname {
				t.Errorf("boundary %s %q, want %s %q", ex.Kind, ex.Name, c.kind, c.bname)
			}
			if string(ex.RequestJSON) != c.wantJSON {
				t.Errorf("request\n got %s\nwant %s", ex.RequestJSON, c.wantJSON)
			}
			for _, kv := range ex.Attrs {
				if v := kv.Value.String(); strings.Contains(v, "SECRET") || strings.Contains(v, "sk-secret") {
					t.Errorf("attribute %s = %s holds a secret", kv.Key, v)
				}
			}
		})
	}
	// The body sent is the body given, secrets included.
	ex, _ := Capture(newReq("POST", "http://h/login", "application/json", `{"echo":"sk-secret-0123456789"}`, "X-Api-Key", "sk-secret-0123456789"), nil)
	if string(ex.Body) != `{"echo":"sk-secret-0123456789"}` {
		t.Errorf("the body sent was changed: %s", ex.Body)
	}
}

func TestCaptureRequestMultipartBoundaryDoesNotCount(t *testing.T) {
	body := func(b string) string {
		return "--" + b + "\r\nContent-Disposition: form-data; name=\"f\"\r\n\r\nx\r\n--" + b + "--\r\n"
	}
	var sigs []string
	for _, b := range []string{"1a2b3c", "9z8y7x"} {
		req, _ := http.NewRequest("POST", "http://h/v1/files", strings.NewReader(body(b)))
		req.Header.Set("Content-Type", "multipart/form-data; boundary="+b)
		ex, err := Capture(req, nil)
		if err != nil {
			t.Fatal(err)
		}
		sigs = append(sigs, string(ex.RequestJSON))
	}
	if sigs[0] != sigs[1] {
		t.Errorf("two uploads differing only in their boundary: %s vs %s", sigs[0], sigs[1])
	}
}
