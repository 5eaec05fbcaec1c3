package httpx

import "testing"

func TestSecretNames(t *testing.T) {
	for _, n := range []string{"Authorization", "Proxy-Authorization", "Cookie", "Set-Cookie", "X-Api-Key", "api-key", "x-goog-api-key",
		"X-Amz-Security-Token", "access_token", "key", "sig", "Ocp-Apim-Subscription-Key", "X-Auth-Token", "client_secret"} {
		if !IsSecretName(n) {
			t.Errorf("%s is not taken for a secret", n)
		}
	}
	for _, n := range []string{"Content-Type", "X-Stainless-Retry-Count", "anthropic-version", "x-ratelimit-remaining-tokens",
		"anthropic-ratelimit-input-tokens-remaining", "openai-organization", "X-Request-Id", "traceparent", "limit"} {
		if IsSecretName(n) {
			t.Errorf("%s is taken for a secret", n)
		}
	}
}

func TestSecretsMask(t *testing.T) {
	var s Secrets = [][]byte{[]byte("sk-abcdefgh-long"), []byte("sk-abcdefgh")}
	got := string(s.Mask([]byte("a sk-abcdefgh-long b sk-abcdefgh c sk-abcdefgh")))
	if want := "a **************** b *********** c ***********"; got != want {
		t.Errorf("Mask = %q, want %q", got, want)
	}
	in := []byte("nothing to hide")
	if out := s.Mask(in); &out[0] != &in[0] {
		t.Error("Mask copied a slice with nothing to mask")
	}
}
